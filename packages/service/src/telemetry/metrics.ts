/**
 * Prometheus metrics for one service: a prom-client Registry of its own (never the global one),
 * the RPC counters and latency histogram both apps record, rejected-request counts, and gauges
 * read at scrape time through hooks (database size, audit lag, Litestream lag).
 *
 * Labels are only ever `op`, `outcome`, `reason` and `gauge`, each from a bounded set: an op not
 * in the service's list is "other", an outcome or reason that is not a plain code (or past the
 * cap of distinct values) is "other". Never an org, app, nonce, user, key or token: label values
 * are public and each new one is a new time series.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface ServiceMetricsOptions {
  /** metric name prefix, e.g. "tkdb" or "petsem" */
  service: string;
  /** the service's RPC ops; any other op is recorded as "other" */
  ops: readonly string[];
  /** Node process metrics (CPU, memory, event loop, GC) under the same prefix. Default true. */
  processMetrics?: boolean;
  /** latency buckets, seconds */
  buckets?: readonly number[];
}

/** A gauge's value at scrape time; undefined (or a throw, also counted) reports NaN: unknown. */
export type GaugeRead = () => number | undefined | Promise<number | undefined>;

export interface ServiceMetrics {
  readonly registry: Registry;
  /** One answered RPC: op, "ok" or the error code, and its duration. */
  observeRpc(op: string, outcome: string, seconds: number): void;
  /** One request refused before it authenticated (bad size, unknown key, replay …). */
  rejected(reason: string): void;
  /** Registers `<service>_<name>` read by `read` at each scrape. */
  gauge(name: string, help: string, read: GaugeRead): void;
  /** The standard hooks both apps have. */
  readonly hooks: {
    dbSizeBytes(read: GaugeRead): void;
    auditLagSeconds(read: GaugeRead): void;
    litestreamLagSeconds(read: GaugeRead): void;
  };
  /** The exposition text (what GET /metrics serves). */
  text(): Promise<string>;
}

const NAME = /^[a-z][a-z0-9_]{0,39}$/;
const CODE = /^[a-z][a-z0-9_]{0,39}$/;
const MAX_DISTINCT = 64;
export const DEFAULT_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** What the lag hooks measure (telemetry/lag.ts reads them from what the process can see). */
const AUDIT_LAG_HELP =
  "seconds since this node's audit log last synced a checkpoint to its shipped sidecar (every 60 s when healthy; the shipper's own lag is in its metrics); NaN: unknown";
const LITESTREAM_LAG_HELP =
  "seconds since this node's Litestream last shipped a WAL segment or snapshot (grows while the database is idle); NaN: not running or not shipped yet";

/** A label value from a bounded vocabulary: plain codes, at most MAX_DISTINCT of them, else "other". */
function boundedLabel(): (v: unknown) => string {
  const seen = new Set<string>();
  return (v) => {
    if (typeof v !== "string" || !CODE.test(v)) return "other";
    if (seen.has(v)) return v;
    if (seen.size >= MAX_DISTINCT) return "other";
    seen.add(v);
    return v;
  };
}

export function createServiceMetrics(opts: ServiceMetricsOptions): ServiceMetrics {
  const { service } = opts;
  if (typeof service !== "string" || !NAME.test(service)) throw new TypeError("service must be like tkdb");
  const ops = new Set(opts.ops.filter((o) => CODE.test(o)));
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: `${service}_` });

  const requests = new Counter({
    name: `${service}_rpc_requests_total`,
    help: "RPCs answered after authentication, by op and outcome (ok or the error code)",
    labelNames: ["op", "outcome"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${service}_rpc_duration_seconds`,
    help: "RPC handling time, by op and outcome",
    labelNames: ["op", "outcome"] as const,
    buckets: [...(opts.buckets ?? DEFAULT_BUCKETS)],
    registers: [registry],
  });
  const rejectedTotal = new Counter({
    name: `${service}_rpc_rejected_total`,
    help: "requests refused before they authenticated, by reason",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const hookErrors = new Counter({
    name: `${service}_metrics_hook_errors_total`,
    help: "gauge hooks that threw at scrape time (the gauge reads NaN in that scrape)",
    labelNames: ["gauge"] as const,
    registers: [registry],
  });
  const outcomeLabel = boundedLabel();
  const reasonLabel = boundedLabel();
  const gauges = new Set<string>();

  const gauge = (name: string, help: string, read: GaugeRead): void => {
    if (!NAME.test(name)) throw new TypeError("gauge name must be like db_size_bytes");
    if (gauges.has(name)) throw new TypeError(`gauge ${name} is already registered`);
    gauges.add(name);
    new Gauge({
      name: `${service}_${name}`,
      help,
      registers: [registry],
      // Unknown is NaN, never a stale or zero value (a lag of 0 would read as healthy).
      async collect() {
        let v: number | undefined;
        try {
          v = await read();
        } catch {
          hookErrors.inc({ gauge: name });
        }
        this.set(typeof v === "number" && Number.isFinite(v) ? v : Number.NaN);
      },
    });
  };

  return {
    registry,
    observeRpc(op, outcome, seconds) {
      const labels = { op: ops.has(op) ? op : "other", outcome: outcomeLabel(outcome) };
      requests.inc(labels);
      if (Number.isFinite(seconds) && seconds >= 0) duration.observe(labels, seconds);
    },
    rejected(reason) {
      rejectedTotal.inc({ reason: reasonLabel(reason) });
    },
    gauge,
    hooks: {
      dbSizeBytes: (read) => gauge("db_size_bytes", "size of the SQLite database and its WAL, bytes", read),
      auditLagSeconds: (read) => gauge("audit_lag_seconds", AUDIT_LAG_HELP, read),
      litestreamLagSeconds: (read) => gauge("litestream_lag_seconds", LITESTREAM_LAG_HELP, read),
    },
    text: () => registry.metrics(),
  };
}
