/**
 * Issue 14 items 3 and 4: traces end to end, and metrics on both services.
 *
 * tkdb and petsem run as processes with OTEL_EXPORTER_OTLP_ENDPOINT naming an OTLP/HTTP receiver
 * this test runs on loopback. The test process plays the API server and flyd: it traces with
 * @tkdb/service's tracing (the OpenTelemetry Node SDK) and its clients put the active context in
 * every call's encrypted `tp` (the clients' `traceparent` provider option). It runs a login, a
 * write and a boot, then reads what both services exported: one trace in which the caller's span
 * parents tkdb's discharge span and petsem's resolve span, each exported by its own process; and
 * nothing exported holds a token, key or secret value. Both services' /metrics count rate, errors
 * and duration per op and outcome, labelled by nothing else.
 */
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { gunzipSync } from "node:zlib";
import { flyRegistry } from "@tkdb/caveats";
import { PetsemClient, TkdbClient } from "@tkdb/client";
import { base64Encode, encodeAuthorizationHeader } from "@tkdb/macaroon";
import { currentTraceparent, startTracing, type Tracing } from "@tkdb/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FlowActors, loginUser, one, startMachine, TKDB_LOCATION, writerFor } from "./flow.js";
import { hex } from "./harness.js";
import { type Stack, startStack } from "./reliability/stack.js";

const ORG = 7707n;
const APP = 8765n;
const USER = 313131n;
const SECRET_VALUE = "postgres://trace-e2e:Zq9vKx2mWp7rTt4yBn8c@db.internal/app";

/** An OTLP/HTTP traces receiver on loopback: keeps every request body as it arrived. */
interface Receiver {
  url: string;
  bodies: Buffer[];
  contentTypes: string[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const bodies: Buffer[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        const raw = Buffer.concat(chunks);
        bodies.push(req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw);
        contentTypes.push(String(req.headers["content-type"] ?? ""));
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    contentTypes,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A loopback port nothing listens on right now (petsem prints no metrics URL at start). */
async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface ExportedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
}

/** OTLP JSON ids are hex (the JS exporter) or base64 (the protobuf JSON mapping): read both. */
function id(v: unknown): string {
  if (typeof v !== "string" || v === "") return "";
  return /^[0-9a-f]+$/.test(v) && (v.length === 32 || v.length === 16)
    ? v
    : Buffer.from(v, "base64").toString("hex");
}

function attrValue(v: Record<string, unknown> | undefined): unknown {
  if (v === undefined) return undefined;
  return v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue ?? v;
}

function spansOf(bodies: Buffer[]): ExportedSpan[] {
  const out: ExportedSpan[] = [];
  for (const body of bodies) {
    const req = JSON.parse(body.toString("utf8")) as {
      resourceSpans?: {
        resource?: { attributes?: { key: string; value: Record<string, unknown> }[] };
        scopeSpans?: { spans?: Record<string, unknown>[] }[];
      }[];
    };
    for (const rs of req.resourceSpans ?? []) {
      const service = String(
        attrValue(rs.resource?.attributes?.find((a) => a.key === "service.name")?.value) ?? "",
      );
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          out.push({
            service,
            name: String(s.name),
            traceId: id(s.traceId),
            spanId: id(s.spanId),
            parentSpanId: id(s.parentSpanId),
            attributes: Object.fromEntries(
              ((s.attributes ?? []) as { key: string; value: Record<string, unknown> }[]).map((a) => [
                a.key,
                attrValue(a.value),
              ]),
            ),
          });
    }
  }
  return out;
}

/** Polls until `found` holds (exports are batched), for at most `ms`. */
async function eventually<T>(read: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = read();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let receiver: Receiver;
let stack: Stack;
let tracing: Tracing;
let actors: FlowActors;
let petsemMetricsUrl: string;
let tkdbMetricsUrl: string;
/** The caller's span ids, by step. */
const callerSpans: Record<string, { traceId: string; spanId: string }> = {};
/** Every credential and value the flow handled, for the scans. */
const material: Record<string, string> = {};

/** Runs `fn` in a span of the caller's (the API server or flyd), remembering its ids. */
function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  return tracing.tracer.startActiveSpan(`e2e.${name}`, async (span) => {
    try {
      return await fn();
    } finally {
      callerSpans[name] = span.spanContext();
      span.end();
    }
  });
}

beforeAll(async () => {
  receiver = await startReceiver();
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "100" };
  const petsemMetricsPort = await freePort();
  stack = await startStack("e2e-trace", {
    tkdb: { ...otel, TKDB_METRICS_PORT: "0" },
    petsem: { ...otel, PETSEM_METRICS_PORT: String(petsemMetricsPort) },
  });
  petsemMetricsUrl = `http://127.0.0.1:${petsemMetricsPort}/metrics`;
  const banner = /"metrics":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(stack.tkdb.output());
  if (banner === null) throw new Error("tkdb printed no metrics URL");
  tkdbMetricsUrl = banner[1] as string;

  // The caller: its own SDK, exporting to the same receiver; its clients send the active context.
  tracing = startTracing({ env: otel, serviceName: "e2e-caller" });
  const traceparent = () => currentTraceparent();
  const tkdbEp = [{ url: stack.tkdb.url, serverPublicKey: stack.tkdb.publicKey }];
  actors = {
    ...stack.actors,
    admin: new TkdbClient({
      endpoints: tkdbEp,
      clientStaticKey: stack.keys.signer,
      registry: flyRegistry,
      traceparent,
    }),
    flyd: new TkdbClient({ endpoints: tkdbEp, registry: flyRegistry, traceparent }),
    secrets: new PetsemClient({
      endpoints: [{ url: stack.petsem.url, serverPublicKey: stack.petsem.publicKey }],
      traceparent,
    }),
  };
  await actors.admin.orgCreate(ORG);

  // A login, a write and a boot, each in a span of the caller's.
  const user = await step("login", () => loginUser(actors, ORG, USER));
  await step("write", () =>
    actors.secrets.set(writerFor(actors, ORG, APP), ORG, APP, { DATABASE_URL: SECRET_VALUE }),
  );
  const { discharge, machine } = await step("boot", async () => {
    const ticket = actors.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
    if (!ticket) throw new Error("reader token has no tkdb caveat");
    const d = await actors.flyd.discharge({ ticket, userHeader: user.header, org: ORG, app: APP });
    const r = await actors.secrets.resolve(encodeAuthorizationHeader([actors.reader, one(d)]), ORG, APP, 1);
    const env = Object.fromEntries(r.secrets.map((s) => [s.name, s.value]));
    return { discharge: d, machine: await startMachine(env) };
  });
  expect(machine).toMatch(/^[0-9a-f]{64}$/);
  // A refusal, for the error counts: the reader without a discharge.
  await actors.secrets
    .resolve(encodeAuthorizationHeader([actors.reader]), ORG, APP, 1)
    .catch(() => undefined);

  const k = stack.keys;
  Object.assign(material, {
    secretValue: SECRET_VALUE,
    userHeader: user.header,
    discharge,
    writer: stack.actors.writer,
    reader: encodeAuthorizationHeader([actors.reader]),
    userNonce: base64Encode(user.permission.nonce.encode()),
    tkdbKek: k.tkdbKek,
    petsemKek: k.petsemKek,
  });
  for (const [name, key] of Object.entries({
    tkdbNoise: k.tkdbNoise.secretKey,
    petsemNoise: k.petsemNoise.secretKey,
    signer: k.signer.secretKey,
    petsemShared: k.petsemShared,
    auth: k.auth,
  })) {
    material[`${name}Hex`] = hex(key);
    material[`${name}Base64`] = Buffer.from(key).toString("base64").replace(/=+$/, "");
    material[`${name}Base64Url`] = Buffer.from(key).toString("base64url");
  }
  await tracing.forceFlush();
}, 180_000);

afterAll(async () => {
  await tracing?.shutdown();
  await stack?.stop();
  await receiver?.close();
});

describe("traces end to end", () => {
  it("one trace: the caller's boot span parents tkdb's discharge span and petsem's resolve span, each exported by its own process", async () => {
    const boot = callerSpans.boot as { traceId: string; spanId: string };
    const find = (service: string, name: string) =>
      spansOf(receiver.bodies).find(
        (s) => s.service === service && s.name === name && s.traceId === boot.traceId,
      );
    const discharge = await eventually(() => find("tkdb", "tkdb.verify/discharge"), 30_000, "tkdb's span");
    const resolve = await eventually(() => find("petsem", "petsem.secrets/resolve"), 30_000, "petsem's span");
    const caller = await eventually(() => find("e2e-caller", "e2e.boot"), 30_000, "the caller's span");
    expect(receiver.contentTypes.every((t) => t.startsWith("application/json"))).toBe(true);

    expect(caller.spanId).toBe(boot.spanId);
    expect(discharge.parentSpanId).toBe(boot.spanId);
    expect(resolve.parentSpanId).toBe(boot.spanId);
    expect(discharge.attributes["rpc.outcome"]).toBe("ok");
    expect(resolve.attributes["rpc.outcome"]).toBe("ok");

    // The login and the write are traced the same way, each under its own caller span.
    const login = callerSpans.login as { traceId: string; spanId: string };
    const write = callerSpans.write as { traceId: string; spanId: string };
    const mint = await eventually(
      () => spansOf(receiver.bodies).find((s) => s.name === "tkdb.sign/mint" && s.traceId === login.traceId),
      30_000,
      "tkdb's mint span",
    );
    expect(mint.parentSpanId).toBe(login.spanId);
    const set = await eventually(
      () =>
        spansOf(receiver.bodies).find((s) => s.name === "petsem.secrets/set" && s.traceId === write.traceId),
      30_000,
      "petsem's set span",
    );
    expect(set.parentSpanId).toBe(write.spanId);
  });

  it("no exported span holds a token, key or secret value, and spans carry only the allow-listed attributes", async () => {
    // The last batches (the refused resolve) are in before the scan.
    await eventually(
      () =>
        spansOf(receiver.bodies).find(
          (s) => s.name === "petsem.secrets/resolve" && s.attributes["rpc.outcome"] !== "ok",
        ),
      30_000,
      "the refused resolve's span",
    );
    const all = Buffer.concat(receiver.bodies).toString("utf8");
    expect(all.length).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(material)) {
      expect(value.length, name).toBeGreaterThanOrEqual(16);
      expect(all.includes(value), `${name} in exported spans`).toBe(false);
      // and no 24-character piece of it (a token's tail, a key cut short)
      for (let i = 0; i + 24 <= value.length; i += 12)
        expect(all.includes(value.slice(i, i + 24)), `part of ${name} in exported spans`).toBe(false);
    }
    const allowed = new Set(["rpc.system", "rpc.service", "rpc.method", "rpc.outcome", "error.type"]);
    for (const s of spansOf(receiver.bodies))
      for (const k of Object.keys(s.attributes)) expect(allowed.has(k), `${s.name}: ${k}`).toBe(true);
  });
});

describe("metrics on both services", () => {
  it("tkdb and petsem count rate, errors and duration per op and outcome, labelled by nothing else", async () => {
    const scrape = async (u: string): Promise<string> => {
      const r = await fetch(u);
      expect(r.status).toBe(200);
      return r.text();
    };
    const tkdb = await scrape(tkdbMetricsUrl);
    const petsem = await scrape(petsemMetricsUrl);
    expect(tkdb).toContain('tkdb_rpc_requests_total{op="discharge",outcome="ok"} 1');
    expect(tkdb).toMatch(/^tkdb_rpc_requests_total\{op="mint",outcome="ok"\} [1-9]/m);
    expect(tkdb).toContain('tkdb_rpc_duration_seconds_count{op="discharge",outcome="ok"} 1');
    expect(petsem).toContain('petsem_rpc_requests_total{op="set",outcome="ok"} 1');
    expect(petsem).toContain('petsem_rpc_requests_total{op="resolve",outcome="ok"} 1');
    expect(petsem).toMatch(/^petsem_rpc_requests_total\{op="resolve",outcome="(?!ok")[a-z_]+"\} 1$/m);
    expect(petsem).toContain('petsem_rpc_duration_seconds_count{op="resolve",outcome="ok"} 1');
    expect(petsem).toMatch(/^petsem_db_size_bytes [1-9]\d*$/m);

    // Label names: op, outcome, reason (ours), le (histogram buckets), and the Node process
    // metrics' own; label values never an org, app, user, nonce or credential.
    const processLabels = ["version", "major", "minor", "patch", "space", "kind", "type", "gauge"];
    for (const text of [tkdb, petsem]) {
      for (const m of text.matchAll(/\{([^}]*)\}/g)) {
        for (const pair of (m[1] as string).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) {
          const [, label, value] = pair as unknown as [string, string, string];
          expect(["op", "outcome", "reason", "le", ...processLabels], label).toContain(label);
          for (const id of [ORG, APP, USER]) expect(value, label).not.toBe(id.toString());
        }
      }
      for (const [name, value] of Object.entries(material))
        expect(text.includes(value), `${name} in /metrics`).toBe(false);
    }
  });
});
