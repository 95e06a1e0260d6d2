/**
 * tkdb's Prometheus metrics, on @tkdb/service's `createServiceMetrics` (prom-client, a registry of
 * its own): `tkdb_rpc_requests_total{op,outcome}`, `tkdb_rpc_duration_seconds{op,outcome}`,
 * `tkdb_rpc_rejected_total{reason}`, `tkdb_db_size_bytes`, `tkdb_audit_lag_seconds` (age of the
 * node's audit log's last checkpoint), `tkdb_litestream_lag_seconds` (time since this node's
 * Litestream last shipped a WAL segment or snapshot: the primary writes a heartbeat every second,
 * so there it is the replication lag; NaN where Litestream does not run, e.g. a LiteFS replica) and
 * Node process metrics. Labels are op, outcome and reason from bounded sets: never an org, app,
 * nonce, user or key. Revocations are `tkdb_rpc_requests_total{op="revoke",outcome="ok"}`.
 */
import { statSync } from "node:fs";
import {
  auditCheckpointAgeSeconds,
  createServiceMetrics,
  type LitestreamLag,
  litestreamLag,
  type ServiceMetrics,
} from "@tkdb/service";
import { auditDirOf, type TkdbConfig } from "./env.js";

export type { ServiceMetrics };

/** Every op label tkdb records ("session" is a session's opening handshake). */
export const TKDB_OPS = [
  "verify",
  "revocations",
  "discharge",
  "health",
  "org_create",
  "mint",
  "revoke",
  "strip",
  "session",
] as const;

/** Size of a SQLite database and its WAL in bytes; undefined (NaN at scrape) when unreadable. */
export function dbSizeBytes(dbPath: string): number | undefined {
  let total = 0;
  for (const f of [dbPath, `${dbPath}-wal`]) {
    try {
      total += statSync(f).size;
    } catch (e) {
      if (f === dbPath || (e as { code?: unknown }).code !== "ENOENT") return undefined;
    }
  }
  return total;
}

/**
 * Litestream's shipping times per database in this process (@tkdb/litestream runs at most one
 * replicator per database per process). serve.ts starts Litestream after the server (and its
 * metrics) exist, so the two meet here by database path.
 */
const litestreamLags = new Map<string, LitestreamLag>();

function litestreamLagOf(dbPath: string): LitestreamLag {
  let lag = litestreamLags.get(dbPath);
  if (lag === undefined) {
    lag = litestreamLag();
    litestreamLags.set(dbPath, lag);
  }
  return lag;
}

/** Litestream's onLog for `dbPath`: times shipped segments for the lag gauge, then `next`. */
export function watchLitestream(dbPath: string, next: (line: string) => void): (line: string) => void {
  const lag = litestreamLagOf(dbPath);
  return (line) => {
    lag.onLog(line);
    next(line);
  };
}

export function createTkdbMetrics(config: Pick<TkdbConfig, "dbPath" | "auditDir">): ServiceMetrics {
  const { dbPath } = config;
  const auditDir = auditDirOf(config);
  const m = createServiceMetrics({ service: "tkdb", ops: TKDB_OPS });
  m.hooks.dbSizeBytes(() => dbSizeBytes(dbPath));
  m.hooks.auditLagSeconds(() => auditCheckpointAgeSeconds(auditDir));
  m.hooks.litestreamLagSeconds(() => litestreamLags.get(dbPath)?.seconds());
  return m;
}
