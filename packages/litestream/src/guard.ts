/**
 * The one-replicator guard. Two Litestreams replicating one database would write one replica at
 * once and corrupt its generations, so each replicator is recorded next to its database
 * (`<db>.litestream.pid`: `<pid> <config path>`, mode 0600), stopped by the next start if still
 * running, and its record removed when it exits.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { LitestreamError } from "./errors.js";

/**
 * A replicator whose service was killed with SIGKILL keeps running (nothing tells it its parent
 * died). Two replicators of one database would write one replica at once, so before starting,
 * the replicator recorded in `pidFile` (`<pid> <config path>`, see recordReplicator) is stopped if
 * that pid is still a Litestream running that config (SIGTERM: it ships what it has; SIGKILL after
 * `killAfterMs`). Linux only (/proc); elsewhere nothing is touched. Returns whether one was stopped.
 */
export async function reapStaleReplicator(pidFile: string, killAfterMs = 10_000): Promise<boolean> {
  const recorded = readRecord(pidFile);
  if (recorded === undefined) return false;
  const { pid, configPath } = recorded;
  const isOurs = () => isLitestreamWith(pid, configPath);
  if (pid === process.pid || !isOurs()) return false;
  /** false once the process is gone; any other refusal (EPERM: not ours to signal) is thrown. */
  const signal = (s: NodeJS.Signals): boolean => {
    try {
      process.kill(pid, s);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
      throw new LitestreamError(
        "conflict",
        `cannot stop the stale Litestream (pid ${pid}) recorded in ${pidFile}`,
        {
          cause: e,
        },
      );
    }
  };
  if (!signal("SIGTERM")) return true;
  for (let waited = 0; isOurs(); waited += 50) {
    if (waited >= killAfterMs && !signal("SIGKILL")) break;
    if (waited >= killAfterMs + 5_000)
      throw new LitestreamError(
        "conflict",
        `the stale Litestream (pid ${pid}) recorded in ${pidFile} did not exit`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Whether `pid` is (still) a Litestream whose arguments include `configPath` (Linux /proc). */
function isLitestreamWith(pid: number, configPath: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.some((a) => a.endsWith("litestream")) && argv.includes(configPath);
  } catch {
    return false;
  }
}

/**
 * The replicator recorded in `pidFile` if it is still running (a Litestream with that config),
 * else undefined. A restore that would replace a database checks this first: replacing a file
 * under a running replicator would ship a mix of two databases into one generation.
 */
export function liveReplicator(pidFile: string): { pid: number; configPath: string } | undefined {
  const r = readRecord(pidFile);
  return r !== undefined && r.pid !== process.pid && isLitestreamWith(r.pid, r.configPath) ? r : undefined;
}

/** `<pid> <config path>` from a pid file; undefined when missing or malformed. */
function readRecord(pidFile: string): { pid: number; configPath: string } | undefined {
  let text: string;
  try {
    text = readFileSync(pidFile, "utf8");
  } catch {
    return undefined;
  }
  const m = /^(\d+) (.+)$/s.exec(text);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 1 ? { pid, configPath: m[2] as string } : undefined;
}

/** Records a running replicator for reapStaleReplicator (owner-only file). */
export function recordReplicator(pidFile: string, pid: number | undefined, configPath: string): void {
  if (pid !== undefined) writeFileSync(pidFile, `${pid} ${configPath}`, { mode: 0o600 });
}

/**
 * Removes the record of a replicator that has exited, only if the file still names that one: a
 * successor that already recorded its own replicator keeps its record.
 */
export function forgetReplicator(pidFile: string, pid: number | undefined, configPath: string): void {
  const r = readRecord(pidFile);
  if (r !== undefined && r.pid === pid && r.configPath === configPath) rmSync(pidFile, { force: true });
}
