/**
 * The handler on node:http directly (`nodeNoiseListener`, `handler.node`): a real server on
 * 127.0.0.1, reached with Node's fetch. The same answers as the fetch-API path, byte for byte in
 * what matters: sessions, per-request calls, bare 400/410 refusals, the size bound, and every
 * other path left to the fallback listener.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createNoiseHandler,
  keyId,
  NOISE_CONTENT_TYPE,
  NOISE_SERVER_KEY_HEADER,
  NOISE_SESSION_HEADER,
  type NoiseServerEvent,
  NoiseSession,
  nodeNoiseListener,
  noiseCall,
  resolveBackend,
} from "../src/index.js";

const backend = resolveBackend("native");
const serverKey = backend.generateKeyPair();
const events: NoiseServerEvent[] = [];
const seen: { source: string; fs: boolean }[] = [];
const handler = createNoiseHandler({
  api: "verify",
  pattern: "IK",
  staticKeyPair: serverKey,
  backend,
  messageOneOps: ["echo"],
  ops: {
    echo: async (ctx) => {
      seen.push({ source: ctx.source, fs: ctx.forwardSecret });
      return { args: ctx.args };
    },
    secret: async () => "stored",
    big: async (ctx) => "y".repeat(Number(ctx.args.n)),
  },
  onEvent: (e) => events.push(e),
});
let server: Server;
let url: string;
let fallbackHits = 0;

beforeAll(async () => {
  server = createServer(
    nodeNoiseListener([handler], (_req, res) => {
      fallbackHits += 1;
      res.writeHead(404, { "Content-Length": "0" });
      res.end();
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  handler.closeSessions();
  await new Promise<void>((r) => server.close(() => r()));
});

const kid = keyId(serverKey.publicKey, backend);

describe("HTTP/Noise on node:http (nodeNoiseListener)", () => {
  it("answers session calls, large multi-frame answers included, and reports each call's duration", async () => {
    const s = new NoiseSession({ url, api: "verify", pattern: "IK", serverPublicKey: serverKey.publicKey });
    try {
      expect(await s.call("echo", { a: 1 })).toEqual({ args: { a: 1 } });
      expect(await s.call("secret")).toBe("stored");
      const big = (await s.call("big", { n: 200_000 })) as string;
      expect(big.length).toBe(200_000);
    } finally {
      s.close();
    }
    expect(seen.at(-1)).toEqual({ source: "127.0.0.1", fs: true });
    const responses = events.filter((e) => e.type === "response");
    expect(responses.length).toBeGreaterThanOrEqual(3);
    for (const e of responses) if (e.type === "response") expect(e.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("answers a per-request call for an op allowed in message 1, and refuses the others there", async () => {
    const r = await noiseCall({
      url,
      api: "verify",
      op: "echo",
      args: { b: 2 },
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      mode: "request",
    });
    expect(r).toEqual({ args: { b: 2 } });
    await expect(
      noiseCall({
        url,
        api: "verify",
        op: "secret",
        args: {},
        pattern: "IK",
        serverPublicKey: serverKey.publicKey,
        mode: "request",
      }),
    ).rejects.toMatchObject({ code: "forward_secrecy_required" });
  });

  it("answers an unauthenticated message with a bare 400 and an unknown session with a bare 410", async () => {
    const headers = { "Content-Type": NOISE_CONTENT_TYPE, [NOISE_SERVER_KEY_HEADER]: kid };
    const bad = await fetch(`${url}/noise/v1/verify/echo`, {
      method: "POST",
      headers,
      body: new Uint8Array(96),
    });
    expect(bad.status).toBe(400);
    expect((await bad.arrayBuffer()).byteLength).toBe(0);
    const gone = await fetch(`${url}/noise/v1/verify/echo`, {
      method: "POST",
      headers: { ...headers, [NOISE_SESSION_HEADER]: "AAAAAAAAAAAAAAAAAAAAAA" },
      body: new Uint8Array(40),
    });
    expect(gone.status).toBe(410);
    const wrongType = await fetch(`${url}/noise/v1/verify/echo`, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body: "{}",
    });
    expect(wrongType.status).toBe(400);
  });

  it("refuses a body over the request bound with a bare 400, whether or not Content-Length announces it", async () => {
    const headers = { "Content-Type": NOISE_CONTENT_TYPE, [NOISE_SERVER_KEY_HEADER]: kid };
    const announced = await fetch(`${url}/noise/v1/verify/echo`, {
      method: "POST",
      headers,
      body: new Uint8Array(70_000),
    });
    expect(announced.status).toBe(400);
    const chunk = new Uint8Array(16_384);
    let sent = 0;
    const streamed = await fetch(`${url}/noise/v1/verify/echo`, {
      method: "POST",
      headers,
      duplex: "half",
      body: new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent >= 5) return c.close();
          sent += 1;
          c.enqueue(chunk);
        },
      }),
    } as RequestInit);
    expect(streamed.status).toBe(400);
  });

  it("leaves every other path to the fallback listener", async () => {
    const before = fallbackHits;
    const r = await fetch(`${url}/health`);
    expect(r.status).toBe(404);
    const other = await fetch(`${url}/noise/v1/sign/mint`, { method: "POST", body: "x" });
    expect(other.status).toBe(404);
    expect(fallbackHits).toBe(before + 2);
  });

  it("re-opens a session the server no longer has and resends the call once", async () => {
    const s = new NoiseSession({ url, api: "verify", pattern: "IK", serverPublicKey: serverKey.publicKey });
    try {
      await s.call("echo", { n: 1 });
      const opened = handler.sessionsOpened;
      handler.closeSessions();
      expect(await s.call("echo", { n: 2 })).toEqual({ args: { n: 2 } });
      expect(handler.sessionsOpened).toBe(opened + 1);
    } finally {
      s.close();
    }
  });
});
