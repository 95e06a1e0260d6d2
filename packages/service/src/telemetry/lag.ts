/**
 * What the `audit_lag_seconds` and `litestream_lag_seconds` gauges read (ServiceMetrics.hooks),
 * from what this process can observe itself:
 *
 * - **Audit**: the shipper (Vector) reads the log files and keeps its own position, which the
 *   service cannot see. What the service can see is its log's checkpoint sidecar
 *   (`<audit dir>/checkpoints.jsonl`, @tkdb/audit): @tkdb/audit appends a synced chain head to it
 *   every `checkpointMs` (1 min) and only after every line before it is on disk. So the gauge is
 *   the age of the newest checkpoint: about 0–60 s when the log is healthy, growing without bound
 *   when the log is broken or stuck (nothing new becomes durable, and nothing new can be shipped
 *   with a checkpoint to prove it was not truncated). The shipper's own lag is Vector's metrics.
 * - **Litestream**: seconds since this node's Litestream last logged a shipped WAL segment or
 *   snapshot (`wal segment written` / `snapshot written`, read from the replicator's `onLog`).
 *   An idle database ships nothing, so the gauge also grows while nothing is written (tkdb's
 *   primary writes a heartbeat every second, so there it is the replication lag); undefined (NaN:
 *   unknown) until Litestream has shipped once in this process or when it is not running here.
 */
import { statSync } from "node:fs";
import { join } from "node:path";

/** @tkdb/audit's sidecar file name (packages/audit/src/files.ts CHECKPOINT_FILE). */
export const AUDIT_CHECKPOINT_FILE = "checkpoints.jsonl";

/**
 * Seconds since the audit log in `dir` last wrote a checkpoint (the sidecar's mtime); undefined
 * when there is no sidecar yet (NaN at scrape: unknown).
 */
export function auditCheckpointAgeSeconds(dir: string, now: () => number = Date.now): number | undefined {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(join(dir, AUDIT_CHECKPOINT_FILE)).mtimeMs;
  } catch {
    return undefined;
  }
  return Math.max(0, now() - mtimeMs) / 1000;
}

export interface LitestreamLag {
  /** Feed it every line Litestream logs (ReplicateOptions.onLog); it keeps only a timestamp. */
  onLog(line: string): void;
  /** Seconds since the last shipped segment or snapshot; undefined before the first one. */
  seconds(): number | undefined;
}

const SHIPPED = /msg="?(wal segment written|snapshot written)/;

export function litestreamLag(now: () => number = Date.now): LitestreamLag {
  let last: number | undefined;
  return {
    onLog(line) {
      if (SHIPPED.test(line)) last = now();
    },
    seconds: () => (last === undefined ? undefined : Math.max(0, now() - last) / 1000),
  };
}
