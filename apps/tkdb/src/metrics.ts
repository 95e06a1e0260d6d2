/**
 * tkdb's Prometheus metrics, on @tkdb/service's `createServiceMetrics` (prom-client, a registry of
 * its own): `tkdb_rpc_requests_total{op,outcome}`, `tkdb_rpc_duration_seconds{op,outcome}`,
 * `tkdb_rpc_rejected_total{reason}`, `tkdb_db_size_bytes` and Node process metrics. Labels are
 * op, outcome and reason from bounded sets: never an org, app, nonce, user or key. Revocations are
 * `tkdb_rpc_requests_total{op="revoke",outcome="ok"}`.
 */
import { statSync } from "node:fs";
import { createServiceMetrics, type ServiceMetrics } from "@tkdb/service";

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

export function createTkdbMetrics(dbPath: string): ServiceMetrics {
  const m = createServiceMetrics({ service: "tkdb", ops: TKDB_OPS });
  m.hooks.dbSizeBytes(() => dbSizeBytes(dbPath));
  return m;
}
