/**
 * petsem's traces and metrics, on @tkdb/service's telemetry (the same library and conventions as
 * tkdb):
 *
 * - **Traces**: one SERVER span per RPC, `petsem.secrets/<op>`, child of the caller's W3C
 *   traceparent (the Noise payload's `tp`, inside the encryption). Exported with the OpenTelemetry
 *   Node SDK and the OTLP/HTTP exporter only when env.ts's OTEL_* variables name an endpoint and
 *   OTEL_SDK_DISABLED is not true. What a span may carry is the library's allow-list: never a
 *   token, secret name or value, argument or client key.
 * - **Metrics** (prom-client, a registry of petsem's own): `petsem_rpc_requests_total{op,outcome}`,
 *   `petsem_rpc_duration_seconds{op,outcome}`, `petsem_rpc_rejected_total{reason}`,
 *   `petsem_db_size_bytes`, `petsem_audit_lag_seconds` (age of the audit log's last checkpoint),
 *   `petsem_litestream_lag_seconds` (time since Litestream last shipped; NaN when not running),
 *   `tkdb_client_feed_lag_seconds` (petsem's follower of tkdb's revocation feed: seconds since its
 *   last successful poll started, +Inf before the first), Node process metrics. Labels are only
 *   op, outcome and reason from bounded sets: never an org, app, nonce, user, secret name or key.
 *   Served by `startMetricsServer` on PETSEM_METRICS_HOST:PETSEM_METRICS_PORT (unset port: no
 *   listener).
 */
import { statSync } from "node:fs";
import type { NoiseOp, NoiseServerEvent } from "@tkdb/noise";
import {
  auditCheckpointAgeSeconds,
  createServiceMetrics,
  type Env,
  type LitestreamLag,
  litestreamLag,
  registerVerifierMetrics,
  type ServiceMetrics,
  startTracing,
  type Tracing,
} from "@tkdb/service";

export type { ServiceMetrics, Tracing };

/** Every op label petsem records ("session" is a session's opening handshake). */
export const PETSEM_OPS = [
  "health",
  "set",
  "import",
  "unset",
  "list",
  "rollback",
  "deploy",
  "history",
  "resolve",
  "session",
] as const;

export interface PetsemTelemetry {
  readonly metrics: ServiceMetrics;
  readonly tracing: Tracing;
  /** The Noise handler's events: one count and duration per answered RPC, rejected counts. */
  onEvent(e: NoiseServerEvent): void;
  /** The op table with each op run in its span (tracing off: the table itself). */
  traced(ops: Record<string, NoiseOp>): Record<string, NoiseOp>;
}

export interface PetsemTelemetryOptions {
  /** The OTEL_* variables (env.ts otelEnv); without an endpoint tracing is off. */
  otel?: Env;
  /** A Tracing of the caller's (tests); the caller shuts it down. */
  tracing?: Tracing;
  /** The database file, for petsem_db_size_bytes. */
  dbFile?: string;
  /** The audit log's directory, for petsem_audit_lag_seconds (its checkpoint sidecar's age). */
  auditDir?: string;
  /** Litestream's log watcher (watchLitestream); without it petsem_litestream_lag_seconds is NaN. */
  litestream?: Pick<LitestreamLag, "seconds">;
  /** The follower of tkdb's revocation feed, for tkdb_client_feed_lag_seconds. */
  feed?: { feedLagSeconds(): number } | null;
  /** A trace export failed (the collector is down): log it, nothing more. */
  onError?: (err: unknown) => void;
}

/** Size of a SQLite database and its WAL in bytes; undefined (NaN at scrape) when unreadable. */
export function dbSizeBytes(dbFile: string): number | undefined {
  let total = 0;
  for (const f of [dbFile, `${dbFile}-wal`]) {
    try {
      total += statSync(f).size;
    } catch (e) {
      if (f === dbFile || (e as { code?: unknown }).code !== "ENOENT") return undefined;
    }
  }
  return total;
}

export function petsemTelemetry(opts: PetsemTelemetryOptions = {}): PetsemTelemetry {
  const tracing =
    opts.tracing ??
    startTracing({
      env: opts.otel ?? {},
      serviceName: "petsem",
      ...(opts.onError === undefined ? {} : { onError: opts.onError }),
    });
  const metrics = createServiceMetrics({ service: "petsem", ops: PETSEM_OPS });
  const { dbFile } = opts;
  if (dbFile !== undefined) metrics.hooks.dbSizeBytes(() => dbSizeBytes(dbFile));
  const { auditDir, litestream, feed } = opts;
  if (auditDir !== undefined) metrics.hooks.auditLagSeconds(() => auditCheckpointAgeSeconds(auditDir));
  // Registered even without Litestream: NaN says "not replicating here", an absent series says nothing.
  metrics.hooks.litestreamLagSeconds(() => litestream?.seconds());
  if (feed !== undefined && feed !== null) registerVerifierMetrics(metrics, feed);
  return {
    metrics,
    tracing,
    onEvent(e) {
      if (e.type === "rejected") metrics.rejected(e.reason.split(":")[0] ?? "");
      else if (e.type === "response") {
        // The Noise handler times the request from its arrival: no AsyncLocalStorage per call.
        metrics.observeRpc(e.op, e.ok ? "ok" : (e.code ?? "error"), e.durationMs / 1000);
      }
    },
    traced(ops) {
      // Tracing off: the ops themselves, no span or context per RPC.
      if (!tracing.enabled) return ops;
      return Object.fromEntries(
        Object.entries(ops).map(([name, op]): [string, NoiseOp] => [
          name,
          (ctx) =>
            tracing.inRpcSpan({ api: ctx.api, op: ctx.op, traceparent: ctx.traceparent }, () => op(ctx)),
        ]),
      );
    },
  };
}

/** What startPetsem hands the telemetry besides the RPCs: the tkdb feed and Litestream's log. */
export type Watch = Pick<PetsemTelemetryOptions, "feed" | "litestream">;

/** Times Litestream's shipped segments (for the lag gauge), passing each line on to `onLog`. */
export function watchLitestream(onLog?: (line: string) => void): LitestreamLag {
  const lag = litestreamLag();
  return {
    onLog(line) {
      lag.onLog(line);
      onLog?.(line);
    },
    seconds: lag.seconds,
  };
}

/**
 * Shuts tracing down (flushing the last spans), waiting at most `ms`: a collector that is down
 * does not hold a stopping service for the exporter's whole timeout. Never rejects.
 */
export async function shutdownTracing(tracing: Tracing, ms = 3_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    tracing.shutdown(),
    new Promise<void>((r) => {
      timer = setTimeout(r, ms);
      timer.unref?.();
    }),
  ]);
  clearTimeout(timer);
}
