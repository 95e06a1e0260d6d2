/** Litestream (v0.3.13, the binary found by @tkdb/litestream) for tkdb's `serve` and `backup restore`. */
import { type ChildProcess, spawn } from "node:child_process";
import { litestreamBinary as binary } from "@tkdb/litestream";
import { TkdbError } from "./errors.js";

export function litestreamBinary(): string {
  try {
    return binary();
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
