/**
 * Benchmark: tracing overhead per RPC span (disabled, enabled with a discarding exporter, enabled
 * with OTLP/HTTP JSON to a receiver on 127.0.0.1 in this process), and keyring seal/open costs.
 * Run: cd packages/service && npx tsx bench/bench.ts   (prints one JSON line last)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { randomBytes } from "../src/crypto.js";
import { Keyring } from "../src/keyring.js";
import { startTracing, type Tracing } from "../src/telemetry/tracing.js";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** Mean microseconds per call of an async fn over `n` calls (after a warm-up). */
async function perCallUs(fn: () => Promise<unknown>, n: number): Promise<number> {
  for (let i = 0; i < Math.min(2000, n); i++) await fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

function perCallUsSync(fn: () => unknown, n: number): number {
  for (let i = 0; i < Math.min(2000, n); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

class Discard implements SpanExporter {
  count = 0;
  export(spans: ReadableSpan[], cb: (r: ExportResult) => void): void {
    this.count += spans.length;
    cb({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

const op = async () => 1;
const rpc = (t: Tracing) => () => t.inRpcSpan({ api: "verify", op: "verify", traceparent: TP }, op);
const N = Number(process.argv[2] ?? 50_000);
const round = (x: number) => Math.round(x * 100) / 100;

const baseline = await perCallUs(op, N);
const off = startTracing({ env: {}, serviceName: "bench" });
const disabled = await perCallUs(rpc(off), N);

const discard = new Discard();
const on = startTracing({ env: {}, serviceName: "bench", exporter: discard, register: false });
const enabled = await perCallUs(rpc(on), N);
await on.shutdown();

let bodies = 0;
const receiver = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    bodies++;
    res.writeHead(200).end("{}");
  });
});
await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
const port = (receiver.address() as AddressInfo).port;
let flushErrors = 0;
const otlp = startTracing({
  env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
  serviceName: "bench",
  register: false,
  onError: () => flushErrors++,
});
// Batches of 512 (the default export batch), each flushed: the cost includes the JSON export and
// the POST (and this process's receiver), not only the span bookkeeping.
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i += 512) {
  for (let j = 0; j < 512; j++) await rpc(otlp)();
  await otlp.forceFlush();
}
const enabledOtlp = Number(process.hrtime.bigint() - t0) / 1000 / (Math.ceil(N / 512) * 512);
await otlp.shutdown();
receiver.close();

const ring = Keyring.create({ current: randomBytes(32), next: randomBytes(32) });
const at = { table: "root_keys", column: "sealed_key", row: "org-1" };
const key = randomBytes(32);
const blob = ring.seal("root-key", key, at);
const seal = perCallUsSync(() => ring.seal("root-key", key, at), N);
const open = perCallUsSync(() => ring.open("root-key", blob, at), N);
const fp = ring.fingerprint(["client", "rid", "mint", '{"org":"o"}']);
const fingerprint = perCallUsSync(
  () => ring.fingerprintMatches(fp, ["client", "rid", "mint", '{"org":"o"}']),
  N,
);
const check = ring.checkValue();
const sealingKid = perCallUsSync(() => ring.sealingKid(check), N);
const create = perCallUsSync(() => Keyring.create({ current: key }), Math.min(N, 5000));

const result = {
  tracing_us_per_rpc: {
    no_span: round(baseline),
    disabled: round(disabled),
    enabled_discard_exporter: round(enabled),
    enabled_otlp_json_loopback: round(enabledOtlp),
    overhead_enabled_us: round(enabled - baseline),
    overhead_otlp_us: round(enabledOtlp - baseline),
  },
  spans: { exported_discard: discard.count, otlp_posts: bodies, otlp_flush_errors: flushErrors },
  keyring_us_per_op: {
    seal_32B: round(seal),
    open_32B: round(open),
    fingerprint_match: round(fingerprint),
    sealing_kid_cached: round(sealingKid),
    create_one_kek: round(create),
  },
  n: N,
};
console.log(JSON.stringify(result));
