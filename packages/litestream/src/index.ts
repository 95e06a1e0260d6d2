/**
 * What both services need to run Litestream (v0.3.13 from @flydotio/litestream) as a child
 * process: the real binary (the npm wrapper always exits 0 and does not forward signals, so the
 * platform package's binary is run directly), and a guard against two replicators of one database.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The Litestream binary for this platform; throws when its platform package is not installed. */
export function litestreamBinary(): string {
  const pkg = `@flydotio/litestream-${process.platform}-${process.arch}`;
  try {
    const wrapper = createRequire(import.meta.url).resolve("@flydotio/litestream/package.json");
    const platformPkg = createRequire(wrapper).resolve(`${pkg}/package.json`);
    const bin = join(dirname(platformPkg), "litestream");
    if (!existsSync(bin)) throw new Error("missing binary");
    return bin;
  } catch (cause) {
    throw new Error(`the Litestream binary (${pkg}) is not installed`, { cause });
  }
}

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
  const isOurs = () => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return argv.some((a) => a.endsWith("litestream")) && argv.includes(configPath);
    } catch {
      return false;
    }
  };
  if (pid === process.pid || !isOurs()) return false;
  /** false once the process is gone; any other refusal (EPERM: not ours to signal) is thrown. */
  const signal = (s: NodeJS.Signals): boolean => {
    try {
      process.kill(pid, s);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
      throw new Error(`cannot stop the stale Litestream (pid ${pid}) recorded in ${pidFile}`, { cause: e });
    }
  };
  if (!signal("SIGTERM")) return true;
  for (let waited = 0; isOurs(); waited += 50) {
    if (waited >= killAfterMs && !signal("SIGKILL")) break;
    if (waited >= killAfterMs + 5_000)
      throw new Error(`the stale Litestream (pid ${pid}) recorded in ${pidFile} did not exit`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
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
