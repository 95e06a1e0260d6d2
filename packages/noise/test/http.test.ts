import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromUtf8, toBase64Url, utf8 } from "../src/bytes.js";
import { buildPrologue, decodeFrames } from "../src/framing.js";
import {
  createNoiseHandler,
  encodeRequest,
  HandshakeState,
  keyId,
  NOISE_IK,
  type NoiseCrypto,
  type NoiseOpContext,
  NoiseRemoteError,
  type NoiseServerEvent,
  NoiseTransportError,
  noiseCall,
} from "../src/index.js";
import { backends } from "./helpers.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async function error(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

describe.each(backends)("HTTP/Noise over loopback (%s backend)", (_name, backend: NoiseCrypto) => {
  const serverKey = backend.generateKeyPair();
  const signKey = backend.generateKeyPair();
  const clientA = backend.generateKeyPair();
  const stranger = backend.generateKeyPair();
  const events: NoiseServerEvent[] = [];
  const calls: NoiseOpContext[] = [];
  let url = "";
  let server: ReturnType<typeof serve>;

  const ops = {
    echo: async (ctx: NoiseOpContext) => {
      calls.push(ctx);
      return {
        args: ctx.args,
        rid: ctx.rid,
        clientKey: ctx.clientKeyBase64Url,
        tp: ctx.traceparent ?? null,
        cid: ctx.correlationId,
      };
    },
    big: async (ctx: NoiseOpContext) => "x".repeat(Number(ctx.args.n)),
    denied: async () => {
      throw Object.assign(new Error("you may not"), { code: "forbidden" });
    },
    crash: async () => {
      throw new Error("db password is hunter2");
    },
  };

  beforeAll(async () => {
    const app = new Hono();
    const verify = createNoiseHandler({
      api: "verify",
      pattern: "IK",
      staticKeyPair: serverKey,
      ops,
      backend,
      onEvent: (e) => events.push(e),
    });
    const sign = createNoiseHandler({
      api: "sign",
      pattern: "KK",
      staticKeyPair: signKey,
      allowedClientKeys: [clientA.publicKey],
      ops,
      backend,
      onEvent: (e) => events.push(e),
    });
    app.post("/noise/v1/verify/:op", (c) => verify(c.req.raw));
    app.post("/noise/v1/sign/:op", (c) => sign(c.req.raw));
    app.get("/noise/v1/verify/:op", (c) => verify(c.req.raw));
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => {
        url = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const ik = (extra: Record<string, unknown> = {}) =>
    ({
      url,
      api: "verify",
      op: "echo",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
      ...extra,
    }) as Parameters<typeof noiseCall>[0];

  it("an IK call round-trips args, rid, traceparent and the client key to the op and back", async () => {
    const rid = toBase64Url(backend.randomBytes(16));
    const result = (await noiseCall(
      ik({ args: { token: "FlyV1 abc", n: 1 }, clientStaticKey: clientA, rid, traceparent: TRACEPARENT }),
    )) as Record<string, unknown>;
    expect(result).toMatchObject({
      args: { token: "FlyV1 abc", n: 1 },
      rid,
      clientKey: toBase64Url(clientA.publicKey),
      tp: TRACEPARENT,
    });
    expect(result.cid).toMatch(/^[0-9a-f]{16}$/);
  });

  it("an IK call without a client static key still works (fresh key per call)", async () => {
    expect(await noiseCall(ik({ args: { a: [1, 2] } }))).toMatchObject({ args: { a: [1, 2] } });
  });

  it("a KK call from an allowed client key round-trips", async () => {
    const r = await noiseCall({
      url,
      api: "sign",
      op: "echo",
      pattern: "KK",
      serverPublicKey: signKey.publicKey,
      clientStaticKey: clientA,
      args: { mint: true },
      backend,
    });
    expect(r).toMatchObject({ args: { mint: true }, clientKey: toBase64Url(clientA.publicKey) });
  });

  it("a KK client not on the allowlist gets the bare 400", async () => {
    const e = await error(
      noiseCall({
        url,
        api: "sign",
        op: "echo",
        pattern: "KK",
        serverPublicKey: signKey.publicKey,
        clientStaticKey: stranger,
        backend,
      }),
    );
    expect(e).toBeInstanceOf(NoiseTransportError);
    expect(e).toMatchObject({ code: "http_status", status: 400 });
  });

  it("a client pinning the wrong server key gets the bare 400", async () => {
    const e = await error(noiseCall(ik({ serverPublicKey: signKey.publicKey })));
    expect(e).toMatchObject({ code: "http_status", status: 400 });
  });

  it("a stale timestamp gets an authenticated stale_request error", async () => {
    const e = await error(noiseCall(ik({ now: () => Date.now() - 61_000 })));
    expect(e).toBeInstanceOf(NoiseRemoteError);
    expect(e).toMatchObject({ code: "stale_request" });
    const future = await error(noiseCall(ik({ now: () => Date.now() + 61_000 })));
    expect(future).toMatchObject({ code: "stale_request" });
  });

  it("op errors with a code map to {code, message}; other errors become internal without their text", async () => {
    expect(await error(noiseCall(ik({ op: "denied" })))).toMatchObject({
      code: "forbidden",
      message: "you may not",
    });
    const e = (await error(noiseCall(ik({ op: "crash" })))) as NoiseRemoteError;
    expect(e).toMatchObject({ code: "internal", message: "internal error" });
    expect(JSON.stringify({ m: e.message, s: String(e) })).not.toContain("hunter2");
    expect(events.some((ev) => ev.type === "op_error")).toBe(true);
  });

  it("an unknown op gets an authenticated unknown_op error", async () => {
    expect(await error(noiseCall(ik({ op: "nope" })))).toMatchObject({ code: "unknown_op" });
  });

  it("a response longer than one Noise message arrives in several frames and reassembles", async () => {
    let frames = 0;
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const body = new Uint8Array(await res.arrayBuffer());
      frames = decodeFrames(body)?.length ?? -1;
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const n = 200_000;
    expect(await noiseCall(ik({ op: "big", args: { n }, fetch: counting }))).toBe("x".repeat(n));
    expect(frames).toBe(4);
  });

  it("the same message 1 sent twice runs the op once; the replay gets an encrypted replay error", async () => {
    const before = calls.length;
    const req = encodeRequest({
      api: "verify",
      op: "echo",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
    });
    const send = () => fetch(`${url}${req.path}`, { method: "POST", headers: req.headers, body: req.body });
    const first = await send();
    const second = await send();
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.headers.get("content-type")).toBe("application/x-noise");
    expect(second.headers.get("cache-control")).toBe("no-store");
    await second.arrayBuffer();
    expect(calls.length - before).toBe(1);
    const last = events.at(-1);
    expect(last).toMatchObject({ type: "response", ok: false, code: "replay", rid: req.rid });
  });

  it("a payload op that differs from the path op gets an authenticated op_mismatch", async () => {
    const kid = keyId(serverKey.publicKey, backend);
    const hs = new HandshakeState({
      protocolName: NOISE_IK,
      initiator: true,
      prologue: buildPrologue("/noise/v1/verify/echo", kid, ""),
      staticKeyPair: clientA,
      remoteStaticKey: serverKey.publicKey,
      backend,
    });
    const rid = toBase64Url(backend.randomBytes(16));
    const msg1 = hs.writeMessage(utf8(JSON.stringify({ v: 1, op: "crash", ts: Date.now(), rid, args: {} })));
    const res = await fetch(`${url}/noise/v1/verify/echo`, {
      method: "POST",
      headers: { "Content-Type": "application/x-noise", "Noise-Server-Key": kid },
      body: msg1,
    });
    expect(res.status).toBe(200);
    const frames = decodeFrames(new Uint8Array(await res.arrayBuffer())) as Uint8Array[];
    expect(JSON.parse(fromUtf8(hs.readMessage(frames[0] as Uint8Array)))).toEqual({
      v: 1,
      rid,
      ok: false,
      error: { code: "op_mismatch", message: "op in the payload differs from the path" },
    });
  });

  it("pre-authentication failures (method, content type, headers, path, size) all get the same empty 400", async () => {
    const req = encodeRequest({
      api: "verify",
      op: "echo",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
    });
    const target = `${url}${req.path}`;
    const variants: [string, RequestInit][] = [
      ["GET", { method: "GET", headers: req.headers }],
      [
        "content type",
        { method: "POST", headers: { ...req.headers, "Content-Type": "application/json" }, body: req.body },
      ],
      [
        "no server key",
        { method: "POST", headers: { "Content-Type": "application/x-noise" }, body: req.body },
      ],
      [
        "client key on IK",
        {
          method: "POST",
          headers: { ...req.headers, "Noise-Client-Key": toBase64Url(clientA.publicKey) },
          body: req.body,
        },
      ],
      ["oversized", { method: "POST", headers: req.headers, body: new Uint8Array(65536) }],
      ["empty", { method: "POST", headers: req.headers, body: new Uint8Array(0) }],
    ];
    for (const [label, init] of variants) {
      const res = await fetch(target, init);
      expect([label, res.status, (await res.arrayBuffer()).byteLength]).toEqual([label, 400, 0]);
    }
    const moved = await fetch(`${url}/noise/v1/verify/denied`, {
      method: "POST",
      headers: req.headers,
      body: req.body,
    });
    expect(moved.status).toBe(400);
  });

  it("random bytes, truncations and bit flips of message 1 always get the bare 400, never a 5xx", async () => {
    const req = encodeRequest({
      api: "verify",
      op: "echo",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      clientStaticKey: clientA,
      backend,
    });
    const bodies: Uint8Array[] = [];
    for (let i = 0; i < 15; i++) bodies.push(backend.randomBytes((i * 37) % 300));
    for (let len = 0; len < req.body.length; len += 9) bodies.push(req.body.subarray(0, len));
    for (let i = 0; i < 25; i++) {
      const b = Uint8Array.from(req.body);
      const pos = (i * 131) % b.length;
      b[pos] = (b[pos] as number) ^ (1 << (i % 8));
      bodies.push(b);
    }
    for (const body of bodies) {
      const res = await fetch(`${url}${req.path}`, { method: "POST", headers: req.headers, body });
      expect([res.status, (await res.arrayBuffer()).byteLength]).toEqual([400, 0]);
    }
    const ok = await fetch(`${url}${req.path}`, { method: "POST", headers: req.headers, body: req.body });
    expect(ok.status).toBe(200);
  });

  it("a tampered response body is a transport error, never a result", async () => {
    const tamper: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const body = new Uint8Array(await res.arrayBuffer());
      body[body.length - 1] = (body[body.length - 1] as number) ^ 1;
      return new Response(body, { status: res.status, headers: res.headers });
    };
    expect(await error(noiseCall(ik({ fetch: tamper })))).toMatchObject({ code: "bad_response" });
  });

  it("unauthenticated responses (plain JSON, wrong type, non-200, network failure) are transport errors", async () => {
    const fake =
      (body: ConstructorParameters<typeof Response>[0], status: number, type: string): typeof fetch =>
      async () =>
        new Response(body, { status, headers: { "Content-Type": type } });
    const cases: [typeof fetch, string][] = [
      [fake(JSON.stringify({ v: 1, ok: true, result: 1 }), 200, "application/json"), "bad_content_type"],
      [fake(JSON.stringify({ v: 1, ok: true, result: 1 }), 200, "application/x-noise"), "bad_response"],
      [fake(new Uint8Array([0, 4, 1, 2, 3, 4]), 200, "application/x-noise"), "bad_response"],
      [fake(null, 200, "application/x-noise"), "bad_response"],
      [fake("oops", 500, "text/plain"), "http_status"],
      [
        async () => {
          throw new TypeError("fetch failed");
        },
        "network",
      ],
    ];
    for (const [f, code] of cases) {
      const e = await error(noiseCall(ik({ fetch: f })));
      expect(e).toBeInstanceOf(NoiseTransportError);
      expect((e as NoiseTransportError).code).toBe(code);
    }
  });

  it("a fetch that never answers ends in a timeout error; a caller abort in an aborted error", async () => {
    const hang: typeof fetch = (_i, init) =>
      new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal?.reason)));
    expect(await error(noiseCall(ik({ fetch: hang, timeoutMs: 20 })))).toMatchObject({ code: "timeout" });
    const ctl = new AbortController();
    const p = noiseCall(ik({ fetch: hang, signal: ctl.signal }));
    ctl.abort();
    expect(await error(p)).toMatchObject({ code: "aborted" });
  });

  it("an oversized streamed body without Content-Length gets the bare 400", async () => {
    // Runs last: the server answers before the upload ends and the connection is then dropped.
    const req = encodeRequest({
      api: "verify",
      op: "echo",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
    });
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 1_000_000) return controller.close();
        sent += 16_384;
        controller.enqueue(new Uint8Array(16_384));
      },
    });
    const init = { method: "POST", headers: req.headers, body: stream, duplex: "half" } as RequestInit;
    const res = await fetch(`${url}${req.path}`, init);
    expect(res.status).toBe(400);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });
});
