/** A small Prometheus text exposition (format 0.0.4): counters and one latency histogram. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

export class Metrics {
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly hist = new Map<string, { buckets: number[]; sum: number; count: number }>();
  private readonly help: Record<string, string> = {
    tkdb_requests_total: "RPCs answered, by api, op and outcome code",
    tkdb_verify_total: "verify outcomes",
    tkdb_revocations_total: "nonces newly revoked",
    tkdb_rejected_total: "requests refused before authentication",
  };

  inc(name: string, l: Record<string, string> = {}, by = 1): void {
    const m = this.counters.get(name) ?? new Map<string, number>();
    const k = labels(l);
    m.set(k, (m.get(k) ?? 0) + by);
    this.counters.set(name, m);
  }

  observe(op: string, seconds: number): void {
    const k = labels({ op });
    const h = this.hist.get(k) ?? { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
    });
    h.sum += seconds;
    h.count += 1;
    this.hist.set(k, h);
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, m] of this.counters) {
      lines.push(`# HELP ${name} ${this.help[name] ?? name}`, `# TYPE ${name} counter`);
      for (const [l, v] of m) lines.push(`${name}${l} ${v}`);
    }
    lines.push("# HELP tkdb_rpc_seconds RPC latency", "# TYPE tkdb_rpc_seconds histogram");
    for (const [l, h] of this.hist) {
      const inner = l.slice(1, -1);
      BUCKETS.forEach((b, i) => {
        lines.push(`tkdb_rpc_seconds_bucket{${inner},le="${b}"} ${h.buckets[i]}`);
      });
      lines.push(`tkdb_rpc_seconds_bucket{${inner},le="+Inf"} ${h.count}`);
      lines.push(`tkdb_rpc_seconds_sum${l} ${h.sum}`, `tkdb_rpc_seconds_count${l} ${h.count}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
