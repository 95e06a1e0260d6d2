/**
 * `serve`: the service from the environment until `signal` aborts (SIGTERM/SIGINT in the bin
 * shim). Prints one JSON line {url, publicKey, publicKeyBase64Url, metrics} once listening, then
 * on abort closes the listener and database and stops its Litestream replicator (a final sync).
 */
import type { ChildProcess } from "node:child_process";
import { forgetReplicator, reapStaleReplicator, recordReplicator } from "@tkdb/litestream";
import type { TkdbConfig } from "./env.js";
import { startReplication } from "./litestream.js";
import { startTkdb } from "./server.js";

export interface ServeOptions {
  config: TkdbConfig;
  stdout: { write(chunk: string): unknown };
  /** The JSON-lines log. */
  stderr: { write(chunk: string): unknown };
  signal: AbortSignal;
}

/** Starts Litestream replicate for the database, stopping a predecessor's orphan first. */
async function replicate(dbPath: string, lsConfig: string): Promise<ChildProcess> {
  // A replicator left by a predecessor killed with SIGKILL is stopped before ours starts.
  const pidFile = `${dbPath}.litestream.pid`;
  await reapStaleReplicator(pidFile);
  const ls = startReplication(lsConfig);
  try {
    recordReplicator(pidFile, ls.pid as number, lsConfig);
  } catch (e) {
    // Unrecorded, a later kill -9 would orphan it with nothing to stop it: do not run it at all.
    ls.kill("SIGKILL");
    throw e;
  }
  ls.once("exit", () => forgetReplicator(pidFile, ls.pid as number, lsConfig));
  return ls;
}

export async function serve(opts: ServeOptions): Promise<void> {
  const config = { ...opts.config };
  config.log ??= (line) => opts.stderr.write(`${JSON.stringify(line)}\n`);
  const h = await startTkdb(config);
  let ls: ChildProcess | undefined;
  try {
    if (config.litestreamConfig) ls = await replicate(config.dbPath, config.litestreamConfig);
  } catch (e) {
    await h.close();
    throw e;
  }
  opts.stdout.write(
    `${JSON.stringify({ url: h.url, publicKey: Buffer.from(h.publicKey).toString("hex"), publicKeyBase64Url: Buffer.from(h.publicKey).toString("base64url"), metrics: h.metricsUrl ?? null })}\n`,
  );
  if (!opts.signal.aborted)
    await new Promise<void>((resolve) =>
      opts.signal.addEventListener("abort", () => resolve(), { once: true }),
    );
  await h.close();
  if (ls !== undefined && ls.exitCode === null && ls.signalCode === null) {
    const exited = new Promise<void>((resolve) => ls?.once("exit", () => resolve()));
    ls.kill("SIGTERM");
    await exited;
  }
}
