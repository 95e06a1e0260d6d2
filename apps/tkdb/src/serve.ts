/**
 * `serve`: the service from the environment until `signal` aborts (SIGTERM/SIGINT in the bin
 * shim). With TKDB_LITESTREAM_CONFIG it runs Litestream through @tkdb/litestream (as petsem does):
 * the replicator of a predecessor killed with SIGKILL is stopped first, and the ready line
 * {url, publicKey, publicKeyBase64Url, metrics} is printed only once the replica holds a
 * restorable snapshot. On abort: the listener and database close, then the replicator stops (its
 * final sync) and `serve` returns. Litestream sees only its own, AWS, TLS and proxy variables of
 * `env`, never TKDB_KEK or TKDB_NOISE_KEY.
 */
import { isLitestreamError, type Replicator, replicate } from "@tkdb/litestream";
import { batchedStream, type LogFn as Logger, ServiceError } from "@tkdb/service";
import type { Env, TkdbConfig } from "./env.js";
import { watchLitestream } from "./metrics.js";
import { startTkdb, tkdbLogger } from "./server.js";

export interface ServeOptions {
  config: TkdbConfig;
  stdout: { write(chunk: string): unknown };
  /** The JSON-lines log. */
  stderr: { write(chunk: string): unknown };
  signal: AbortSignal;
  /**
   * The environment env.ts read (the CLI's). Litestream takes LITESTREAM_*, AWS_*, HOME, TZ, TLS
   * and proxy variables from it, and nothing else; without it Litestream gets none of them.
   */
  env?: Env;
}

/** A LitestreamError as the shared vocabulary's ServiceError (its codes already are in it). */
export function fromLitestream(e: unknown): unknown {
  if (!isLitestreamError(e)) return e;
  return new ServiceError(e.code, e.message, {
    cause: e,
    ...(e.details === undefined ? {} : { details: e.details }),
  });
}

/** Litestream's log lines (paths, generations, positions: never database content) into tkdb's log. */
function litestreamLog(log: Logger): (line: string) => void {
  return (line) => {
    const level = /level=ERROR|panic:/.test(line) ? "error" : /level=WARN/.test(line) ? "warn" : "info";
    log(level, "litestream", { line });
  };
}

export async function serve(opts: ServeOptions): Promise<void> {
  const config = { ...opts.config };
  // One write per 20 ms at most, not per line (@tkdb/service batchedStream).
  config.log ??= batchedStream(opts.stderr);
  const log = tkdbLogger(config);
  // A read-only replica promoted by LiteFS stops serving and exits non-zero: LiteFS (its exec
  // supervisor) exits with it and the machine restarts as primary, opening the database for writes
  // and minting a new feed epoch (replication.ts).
  const promoted = new AbortController();
  const stopped = AbortSignal.any([opts.signal, promoted.signal]);
  const h = await startTkdb(config, { onPromoted: () => promoted.abort() });
  let replicator: Replicator | undefined;
  try {
    if (config.litestreamConfig !== undefined) {
      replicator = await replicate({
        dbPath: config.dbPath,
        config: { file: config.litestreamConfig },
        env: opts.env ?? {},
        onLog: watchLitestream(config.dbPath, litestreamLog(log)),
      });
      // Ready (or stopped early): a restore of the replica would now succeed.
      const aborted = new Promise<void>((resolve) => {
        if (stopped.aborted) resolve();
        stopped.addEventListener("abort", () => resolve(), { once: true });
      });
      await Promise.race([replicator.ready, aborted]);
      if (!stopped.aborted) log("info", "litestream ready", { replica: (await replicator.ready).replicas });
    }
  } catch (e) {
    await replicator?.stop().catch(() => undefined);
    await h.close();
    throw fromLitestream(e);
  }
  if (!stopped.aborted) {
    opts.stdout.write(
      `${JSON.stringify({ url: h.url, publicKey: Buffer.from(h.publicKey).toString("hex"), publicKeyBase64Url: Buffer.from(h.publicKey).toString("base64url"), metrics: h.metricsUrl ?? null })}\n`,
    );
    await new Promise<void>((resolve) => {
      if (stopped.aborted) resolve();
      stopped.addEventListener("abort", () => resolve(), { once: true });
    });
  }
  // No more writes, then Litestream's final sync of everything written.
  log("info", "tkdb stopping");
  await h.close();
  try {
    await replicator?.stop();
  } catch (e) {
    log("error", "litestream did not stop cleanly", { error: e });
    throw fromLitestream(e);
  }
  log("info", "tkdb stopped");
  if (promoted.signal.aborted && !opts.signal.aborted)
    throw new ServiceError(
      "unavailable",
      "promoted to primary on a read-only replica: restart to take writes",
    );
}
