import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { NoiseRemoteError, noiseCall } from "@tkdb/noise";
import { startTracing } from "@tkdb/service";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { backends } from "../src/crypto.js";
import { startTkdb } from "../src/server.js";
import { caller, fixture, tempDir } from "./helpers.js";

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

describe("operations", () => {
  it("each RPC gets a server span whose parent is the client's traceparent", async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({ env: {}, serviceName: "tkdb", exporter, register: false });
    const fx = fixture(t.dir);
    const h = await startTkdb(fx.config, { tracing });
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    await noiseCall({
      url: h.url,
      api: "verify",
      op: "health",
      args: {},
      pattern: "IK",
      serverPublicKey: h.publicKey,
      traceparent: `00-${traceId}-b7ad6b7169203331-01`,
    });
    await caller(h.url, h.publicKey, fx.signClient).sign("org_create", { org: "5" });
    await h.close();
    await tracing.forceFlush();
    // (a session's opening handshake, when the client uses one, is not an op and has no span)
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(["tkdb.verify/health", "tkdb.sign/org_create"]);
    expect(spans[0]?.spanContext().traceId).toBe(traceId);
    expect(spans[0]?.parentSpanContext?.spanId).toBe("b7ad6b7169203331");
    expect(spans[0]?.attributes["rpc.outcome"]).toBe("ok");
    expect(spans[1]?.spanContext().traceId).not.toBe(traceId);
    await tracing.shutdown();
  });

  it("on a LiteFS replica, mutating ops fail with not_primary naming the primary; reads still work", async () => {
    const fx = fixture(t.dir);
    const litefs = join(t.dir, "litefs");
    mkdirSync(litefs);
    const h = await startTkdb({ ...fx.config, litefsDir: litefs });
    const c = caller(h.url, h.publicKey, fx.signClient);
    await c.sign("org_create", { org: "5" });
    writeFileSync(join(litefs, ".primary"), "tkdb-fra-1\n");
    const err = await c.sign("mint", { org: "5" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoiseRemoteError);
    expect((err as NoiseRemoteError).code).toBe("not_primary");
    expect((err as NoiseRemoteError).message).toContain("tkdb-fra-1");
    expect(await c.verify("health", {})).toMatchObject({ ok: true, primary: false });
    await h.close();
  });

  it("a replica never initializes the database: before the primary has, it refuses to start and creates nothing", async () => {
    const dir = join(t.dir, "ro");
    mkdirSync(dir);
    const fx = fixture(dir);
    const litefs = join(dir, "litefs");
    mkdirSync(litefs);
    writeFileSync(join(litefs, ".primary"), "tkdb-iad-1\n");
    // Nothing initialized yet: a replica must not create the schema or the KEK check value.
    await expect(startTkdb({ ...fx.config, litefsDir: litefs })).rejects.toMatchObject({
      code: expect.any(String),
    });
    // (A replica opens the file read-only and must find it: it does not even create an empty one.)
    expect(existsSync(fx.config.dbPath)).toBe(false);
    // Once the primary has initialized it, the replica starts and serves reads.
    const primary = await startTkdb(fx.config);
    await primary.close();
    const h = await startTkdb({ ...fx.config, litefsDir: litefs });
    const c = caller(h.url, h.publicKey, fx.signClient);
    expect(await c.verify("health", {})).toMatchObject({ ok: true, primary: false });
    await h.close();
  });

  it("metrics are served on a separate loopback port in Prometheus text format, labelled by op and outcome only", async () => {
    const fx = fixture(t.dir);
    const h = await startTkdb({ ...fx.config, metricsPort: 0 });
    const c = caller(h.url, h.publicKey, fx.signClient);
    await c.sign("org_create", { org: "5" });
    const { nonce } = await c.sign<{ nonce: string }>("mint", { org: "5" });
    await c.sign("revoke", { nonce });
    await c.verify("verify", { header: "FlyV1 nothing" }).catch(() => {});
    const text = await (await fetch(h.metricsUrl!)).text();
    await h.close();
    expect(text).toContain('tkdb_rpc_requests_total{op="mint",outcome="ok"} 1');
    expect(text).toContain('tkdb_rpc_requests_total{op="revoke",outcome="ok"} 1');
    expect(text).toContain('tkdb_rpc_requests_total{op="verify",outcome="unauthorized"} 1');
    expect(text).toContain('tkdb_rpc_duration_seconds_count{op="mint",outcome="ok"} 1');
    expect(text).toMatch(/^tkdb_db_size_bytes [1-9]\d*$/m);
    // Labels are op, outcome, reason (and le, the histogram's): never an org, nonce or key.
    const labelNames = new Set([...text.matchAll(/[{,]([a-z_]+)="/g)].map((m) => m[1]));
    for (const l of labelNames)
      expect([
        "op",
        "outcome",
        "reason",
        "le",
        "gauge",
        "version",
        "major",
        "minor",
        "patch",
        "space",
        "kind",
        "type",
      ]).toContain(l);
    expect(text).not.toContain(nonce);
    expect(new URL(h.metricsUrl!).hostname).toBe("127.0.0.1");
    expect(new URL(h.metricsUrl!).port).not.toBe(new URL(h.url).port);
  });

  it("logs are JSON lines without token or key material", async () => {
    const lines: Record<string, unknown>[] = [];
    const fx = fixture(t.dir);
    const h = await startTkdb({
      ...fx.config,
      log: { write: (chunk: string) => lines.push(JSON.parse(chunk)) },
    });
    const c = caller(h.url, h.publicKey, fx.signClient);
    await c.sign("org_create", { org: "5" });
    const { token } = await c.sign<{ token: string }>("mint", { org: "5" });
    await c.verify("verify", { header: `FlyV1 ${token}` });
    await c.verify("verify", { header: "FlyV1 fm2_AAAA" }).catch(() => undefined);
    await h.close();
    const all = JSON.stringify(lines);
    // (a session's opening handshake, when the client uses one, is logged as op "session")
    const rpc = lines.filter((l) => l.msg === "rpc" && l.op !== "session");
    expect(rpc.map((l) => [l.op, l.outcome])).toEqual([
      ["org_create", "ok"],
      ["mint", "ok"],
      ["verify", "ok"],
      ["verify", "unauthorized"],
    ]);
    for (const l of rpc) {
      expect(typeof l.durationMs).toBe("number");
      expect(l.cid).toMatch(/^[0-9a-f]{16}(\.\d+)?$/);
    }
    expect(all).not.toContain(token.slice(4, 40));
    expect(all).not.toContain(Buffer.from(fx.config.kek).toString("hex"));
  });
});

describe.each(backends)("the full stack on the $name crypto backend", (p) => {
  it("org_create, mint, verify and revoke work end to end, and a restart with the other backend reads the keys", async () => {
    const fx = fixture(t.dir);
    const h = await startTkdb(fx.config, { primitives: p });
    const c = caller(h.url, h.publicKey, fx.signClient);
    await c.sign("org_create", { org: "6" });
    const m = await c.sign<{ token: string; nonce: string }>("mint", { org: "6", caveats: [] });
    expect(await c.verify("verify", { header: `FlyV1 ${m.token}` })).toMatchObject({
      caveats: [],
      nonce: m.nonce,
      org: "6",
    });
    await h.close();
    const other = backends.find((b) => b !== p) as (typeof backends)[number];
    const h2 = await startTkdb(fx.config, { primitives: other });
    const c2 = caller(h2.url, h2.publicKey, fx.signClient);
    expect((await c2.verify<{ org: string }>("verify", { header: `FlyV1 ${m.token}` })).org).toBe("6");
    expect(await c2.sign("revoke", { token: m.token })).toEqual({
      nonce: m.nonce,
      revoked: true,
      derived: [],
      requiredUntil: null,
    });
    await h2.close();
  });
});
