/**
 * Tracing against a real OTLP/HTTP receiver on 127.0.0.1 (a node:http server collecting the JSON
 * bodies POSTed to /v1/traces), through the real OTLPTraceExporter and BatchSpanProcessor.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isServiceError } from "../src/errors.js";
import { otlpTracingFromEnv } from "../src/telemetry/otel-env.js";
import { allowList } from "../src/telemetry/span-filter.js";
import { currentTraceparent, startTracing, type Tracing } from "../src/telemetry/tracing.js";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number; message?: string };
  attributes?: { key: string; value: Record<string, unknown> }[];
  events?: { name: string; attributes?: unknown[] }[];
}

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const TP = `00-${TRACE_ID}-${PARENT_ID}-01`;
const SECRET_TOKEN = "FlyV1 fm2_lJPECAAAAAAAAMSHxBBAbCdEfGhIjKlMnOpQrStUvWx";

let server: Server;
let endpoint: string;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
  received.length = 0;
});

function spansOf(rs: Received[]): { service: unknown; spans: OtlpSpan[] }[] {
  return rs.flatMap((r) => {
    const body = JSON.parse(r.body) as {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue?: string } }[] };
        scopeSpans: { spans: OtlpSpan[] }[];
      }[];
    };
    return body.resourceSpans.map((s) => ({
      service: s.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue,
      spans: s.scopeSpans.flatMap((x) => x.spans),
    }));
  });
}

const attrs = (s: OtlpSpan) =>
  Object.fromEntries((s.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]));

function start(extra: Record<string, string> = {}): Tracing {
  tracing = startTracing({
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: "20", ...extra },
    serviceName: "tkdb",
    spanAttributes: ["tkdb.batch_size"],
  });
  return tracing;
}

describe("RPC spans reach the OTLP collector as children of the caller's traceparent", () => {
  it("a span for an RPC with tp arrives at /v1/traces as JSON, SERVER kind, same trace, parent = the caller's span", async () => {
    const t = start({ OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=abc%20def" });
    expect(t.enabled).toBe(true);
    let inner: string | undefined;
    const r = await t.inRpcSpan({ api: "verify", op: "verify", traceparent: TP }, (s) => {
      inner = s.traceparent;
      return 42;
    });
    expect(r).toBe(42);
    await t.forceFlush();
    expect(received.length).toBeGreaterThan(0);
    expect(received[0]?.path).toBe("/v1/traces");
    expect(received[0]?.headers["content-type"]).toMatch(/application\/json/);
    expect(received[0]?.headers["x-api-key"]).toBe("abc def");
    const [batch] = spansOf(received);
    expect(batch?.service).toBe("tkdb");
    const span = batch?.spans[0] as OtlpSpan;
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.parentSpanId).toBe(PARENT_ID);
    expect(span.name).toBe("tkdb.verify/verify");
    expect(span.kind).toBe(2); // SPAN_KIND_SERVER
    expect(attrs(span)).toEqual({
      "rpc.system": "tkdb-noise",
      "rpc.service": "tkdb.verify",
      "rpc.method": "verify",
      "rpc.outcome": "ok",
    });
    // the traceparent handed to the RPC for its own outgoing calls is a child of this span
    expect(inner).toBe(`00-${TRACE_ID}-${span.spanId}-01`);
  });

  it("inside the RPC, currentTraceparent() names the RPC's span (for a client call's tp)", async () => {
    const t = start();
    const seen = await t.inRpcSpan({ api: "secrets", op: "resolve", traceparent: TP }, async (s) => {
      await new Promise((r) => setTimeout(r, 1));
      return { current: currentTraceparent(), handed: s.traceparent };
    });
    expect(seen.current).toBe(seen.handed);
    expect(seen.current).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
  });

  it("nothing outside the allow-list leaves the process: tokens in attributes, events, exceptions and status never reach the collector", async () => {
    const t = start();
    await expect(
      t.inRpcSpan({ api: "sign", op: "mint", traceparent: TP }, (s) => {
        s.span.setAttribute("token", SECRET_TOKEN);
        s.span.setAttribute("http.request.header.authorization", SECRET_TOKEN);
        s.span.setAttribute("rpc.method", SECRET_TOKEN); // allowed key, material value
        s.span.setAttribute("tkdb.batch_size", 3); // allowed extra
        s.span.setAttribute("org", "personal");
        s.span.addEvent("args", { caveats: SECRET_TOKEN });
        s.span.recordException(new Error(`bad token ${SECRET_TOKEN}`));
        s.span.setStatus({ code: 2, message: SECRET_TOKEN });
        throw Object.assign(new Error(`refused ${SECRET_TOKEN}`), { code: "forbidden" });
      }),
    ).rejects.toThrow(/refused/);
    await t.forceFlush();
    const all = received.map((r) => r.body).join("\n");
    expect(all).not.toContain("fm2_");
    expect(all).not.toContain("FlyV1");
    expect(all).not.toContain("personal");
    const span = spansOf(received)[0]?.spans[0] as OtlpSpan;
    expect(attrs(span)).toEqual({
      "rpc.system": "tkdb-noise",
      "rpc.service": "tkdb.sign",
      "rpc.outcome": "forbidden",
      "error.type": "forbidden",
      "tkdb.batch_size": 3,
    });
    expect(span.status?.code).toBe(2); // STATUS_CODE_ERROR
    expect(span.status?.message ?? "").toBe("");
  });

  it("an error without a plain code is recorded as internal, and the error still reaches the caller", async () => {
    const t = start();
    await expect(
      t.inRpcSpan({ api: "verify", op: "verify" }, () => Promise.reject(new Error("x"))),
    ).rejects.toThrow("x");
    await t.forceFlush();
    const span = spansOf(received)[0]?.spans[0] as OtlpSpan;
    expect(attrs(span)["error.type"]).toBe("internal");
    expect(span.parentSpanId ?? "").toBe(""); // no tp: a root span
  });
});

describe("tracing is on only when the env object says where to send spans", () => {
  it("no endpoint, OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none: disabled, nothing sent", async () => {
    for (const env of [
      {},
      { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SDK_DISABLED: "true" },
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces`, OTEL_SDK_DISABLED: " TRUE " },
      { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_EXPORTER: "none" },
    ]) {
      const t = startTracing({ env, serviceName: "petsem" });
      expect(t.enabled).toBe(false);
      await t.inRpcSpan({ api: "secrets", op: "set" }, () => 1);
      await t.shutdown();
    }
    expect(received).toEqual([]);
  });

  it("disabled tracing still hands the caller's trace on, so a downstream service can continue it", async () => {
    const t = startTracing({ env: {}, serviceName: "petsem" });
    const tp = await t.inRpcSpan({ api: "secrets", op: "resolve", traceparent: TP }, (s) => s.traceparent);
    expect(tp).toBe(TP);
    expect(await t.inRpcSpan({ api: "secrets", op: "resolve" }, (s) => s.traceparent)).toBeUndefined();
  });

  it("endpoint resolution follows the spec: TRACES_ENDPOINT as is, ENDPOINT + /v1/traces", () => {
    expect(otlpTracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, "x")?.url).toBe(
      "http://c:4318/v1/traces",
    );
    expect(otlpTracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/base/" }, "x")?.url).toBe(
      "http://c:4318/base/v1/traces",
    );
    expect(
      otlpTracingFromEnv(
        { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://t/x" },
        "x",
      )?.url,
    ).toBe("https://t/x");
    expect(
      otlpTracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_SERVICE_NAME: "tkdb-iad" }, "tkdb")
        ?.serviceName,
    ).toBe("tkdb-iad");
  });

  it("bad settings are config errors naming the variable, never echoing a value (headers hold API keys)", () => {
    const secret = "s3cr3t-api-key-value";
    for (const env of [
      { OTEL_EXPORTER_OTLP_ENDPOINT: `ftp://u:${secret}@c` },
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_EXPORTER_OTLP_HEADERS: `${secret}` },
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_EXPORTER_OTLP_HEADERS: `k=%E0%A4%A${secret}` },
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_TRACES_SAMPLER: secret },
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_BSP_MAX_QUEUE_SIZE: secret },
    ]) {
      let err: unknown;
      try {
        startTracing({ env, serviceName: "tkdb" });
      } catch (e) {
        err = e;
      }
      expect(isServiceError(err, "config")).toBe(true);
      expect(`${(err as Error).message} ${JSON.stringify(err)}`).not.toContain(secret);
      expect((err as Error).message).toMatch(/OTEL_/);
    }
  });

  it("a service cannot allow-list an attribute whose name says it holds material", () => {
    expect(() => allowList(["tkdb.token"])).toThrow(/material/);
    expect(() => allowList(["petsem.secret_value"])).toThrow(/material/);
    expect(() => allowList(["Bad Name"])).toThrow(TypeError);
    expect(allowList(["petsem.batch_size"]).has("petsem.batch_size")).toBe(true);
  });
});
