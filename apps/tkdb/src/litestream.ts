/**
 * Litestream (v0.3.13 from @flydotio/litestream). The npm wrapper always exits 0 and does not
 * forward signals, so the real binary is resolved from the platform package and spawned directly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { TkdbError } from "./errors.js";

export function litestreamBinary(): string {
  const req = createRequire(import.meta.url);
  try {
    const wrapper = req.resolve("@flydotio/litestream/package.json");
    const platformReq = createRequire(wrapper);
    const pkg = platformReq.resolve(`@flydotio/litestream-${process.platform}-${process.arch}/package.json`);
    return join(dirname(pkg), "litestream");
  } catch (cause) {
    throw new TkdbError("config", `no Litestream binary for ${process.platform}-${process.arch}`, { cause });
  }
}

/** Starts `litestream replicate -config <file>`; SIGTERM on the child makes it do a final sync. */
export function startReplication(configPath: string, output: "inherit" | "ignore" = "inherit"): ChildProcess {
  return spawn(litestreamBinary(), ["replicate", "-config", configPath], {
    stdio: ["ignore", output, output],
  });
}

/** Point-in-time restore of `dbPath`'s replica (per the config) into `outPath`. */
export function restore(opts: {
  configPath: string;
  dbPath: string;
  outPath: string;
  timestamp?: string;
}): Promise<void> {
  const args = ["restore", "-config", opts.configPath, "-o", opts.outPath];
  if (opts.timestamp !== undefined) args.push("-timestamp", opts.timestamp);
  args.push(opts.dbPath);
  return new Promise((resolve, reject) => {
    const child = spawn(litestreamBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", (cause) => reject(new TkdbError("storage", "cannot run litestream", { cause })));
    child.on("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new TkdbError("storage", `litestream restore failed: ${err.trim().slice(-300)}`)),
    );
  });
}

/**
 * A replicator whose service was killed with SIGKILL keeps running (nothing tells it its parent
 * died). Two replicators of one database would write one replica at once, so before starting,
 * the replicator recorded in `pidFile` (`<pid> <config path>`, see recordReplicator) is stopped if
 * that pid is still a Litestream running that config (SIGTERM: it ships what it has; SIGKILL after
 * 10 s). Linux only (/proc); elsewhere nothing is touched. Returns whether one was stopped.
 */
export async function reapStaleReplicator(pidFile: string): Promise<boolean> {
  let pid: number;
  let configPath: string;
  try {
    const [p, ...rest] = readFileSync(pidFile, "utf8").split(" ");
    pid = Number.parseInt(p ?? "", 10);
    configPath = rest.join(" ");
  } catch {
    return false;
  }
  const isOurs = () => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return argv.some((a) => a.endsWith("litestream")) && argv.includes(configPath);
    } catch {
      return false;
    }
  };
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid || !isOurs()) return false;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  for (let waited = 0; isOurs(); waited += 50) {
    if (waited >= 10_000) signal("SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Records a running replicator for reapStaleReplicator. */
export function recordReplicator(pidFile: string, pid: number | undefined, configPath: string): void {
  if (pid !== undefined) writeFileSync(pidFile, `${pid} ${configPath}`, { mode: 0o600 });
}
