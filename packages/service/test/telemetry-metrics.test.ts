import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServiceMetrics, type ServiceMetrics } from "../src/telemetry/metrics.js";
import { type MetricsServer, startMetricsServer } from "../src/telemetry/metrics-server.js";

describe("metrics: scraped over HTTP from the metrics listener", () => {
  let metrics: ServiceMetrics;
  let server: MetricsServer;
  let dbSize = 4096;

  beforeAll(async () => {
    metrics = createServiceMetrics({ service: "tkdb", ops: ["verify", "mint", "revoke"] });
    metrics.hooks.dbSizeBytes(() => dbSize);
    metrics.hooks.auditLagSeconds(async () => 1.5);
    metrics.hooks.litestreamLagSeconds(() => {
      throw new Error("litestream is not running");
    });
    server = await startMetricsServer(metrics, { host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await server?.close();
  });

  const scrape = async () => {
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    return res.text();
  };

  it("GET /metrics on 127.0.0.1 serves RPC counts and latency by op and outcome", async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    metrics.observeRpc("verify", "ok", 0.002);
    metrics.observeRpc("verify", "ok", 0.004);
    metrics.observeRpc("mint", "forbidden", 0.01);
    metrics.rejected("unknown_key");
    const text = await scrape();
    expect(text).toContain('tkdb_rpc_requests_total{op="verify",outcome="ok"} 2');
    expect(text).toContain('tkdb_rpc_requests_total{op="mint",outcome="forbidden"} 1');
    expect(text).toContain('tkdb_rpc_duration_seconds_count{op="verify",outcome="ok"} 2');
    expect(text).toContain('tkdb_rpc_rejected_total{reason="unknown_key"} 1');
    expect(text).toContain("tkdb_process_cpu_user_seconds_total");
  });

  it("gauge hooks are read at each scrape; a hook that throws reads NaN (never a healthy-looking 0) and is counted", async () => {
    expect(await scrape()).toContain("tkdb_db_size_bytes 4096");
    dbSize = 8192;
    const text = await scrape();
    expect(text).toContain("tkdb_db_size_bytes 8192");
    expect(text).toContain("tkdb_audit_lag_seconds 1.5");
    expect(text).toMatch(/^tkdb_litestream_lag_seconds nan$/im);
    expect(text).toMatch(/tkdb_metrics_hook_errors_total\{gauge="litestream_lag_seconds"\} [1-9]/);
  });

  it("labels never carry request data: unknown ops and non-code outcomes or reasons become 'other'", async () => {
    const token = "FlyV1 fm2_lJPECAAAAAAAAMSH";
    metrics.observeRpc("org-12345", "ok", 0.001);
    metrics.observeRpc("verify", token, 0.001);
    metrics.observeRpc("verify", "personal/app-x", 0.001);
    metrics.rejected(`bad key ${token}`);
    const text = await scrape();
    expect(text).not.toContain("org-12345");
    expect(text).not.toContain("fm2_");
    expect(text).not.toContain("personal");
    expect(text).toContain('tkdb_rpc_requests_total{op="other",outcome="ok"} 1');
    expect(text).toContain('tkdb_rpc_requests_total{op="verify",outcome="other"} 2');
    expect(text).toContain('tkdb_rpc_rejected_total{reason="other"} 1');
    for (const line of text.split("\n").filter((l) => l.startsWith("tkdb_rpc_"))) {
      const labels = [...line.matchAll(/(\w+)="/g)].map((m) => m[1]);
      for (const l of labels) expect(["op", "outcome", "reason", "le"]).toContain(l);
    }
  });

  it("the number of distinct outcome values is capped (a flood of codes cannot grow the series without bound)", async () => {
    const m = createServiceMetrics({ service: "capped", ops: ["op"], processMetrics: false });
    for (let i = 0; i < 500; i++) m.observeRpc("op", `code_${i}`, 0.001);
    const series = (await m.text()).split("\n").filter((l) => l.startsWith("capped_rpc_requests_total{"));
    expect(series.length).toBe(65);
    expect(series).toContain('capped_rpc_requests_total{op="op",outcome="other"} 436');
  });

  it("only GET /metrics is served: other paths are 404 and other methods 405", async () => {
    const base = server.url.replace(/\/metrics$/, "");
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/noise/v1/verify/verify`, { method: "POST", body: "x" })).status).toBe(404);
    expect((await fetch(server.url, { method: "POST", body: "x" })).status).toBe(405);
  });

  it("each service has its own registry: two services' metrics never mix", async () => {
    const a = createServiceMetrics({ service: "svc_a", ops: ["x"], processMetrics: false });
    const b = createServiceMetrics({ service: "svc_b", ops: ["x"], processMetrics: false });
    a.observeRpc("x", "ok", 0.001);
    expect(await b.text()).not.toContain("svc_a");
    expect(await a.text()).toContain('svc_a_rpc_requests_total{op="x",outcome="ok"} 1');
    expect(() => createServiceMetrics({ service: "Bad-Name", ops: [] })).toThrow(TypeError);
    expect(() => a.gauge("db_size_bytes", "x", () => 1)).not.toThrow();
    expect(() => a.gauge("db_size_bytes", "x", () => 1)).toThrow(/already registered/);
  });
});
