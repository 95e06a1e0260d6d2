import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createNoiseHandler, NoiseTransportError, resolveBackend } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../src/errors.js";
import { type Endpoint, NoiseRpc } from "../src/rpc.js";
import { nodeTransport } from "../src/transport.js";

/**
 * The default transport (node:http with a keep-alive agent, transport.ts) against real loopback
 * servers: a Noise server on plain node:http, and servers that misbehave at the HTTP level.
 */
const backend = resolveBackend("native");
const noSleep = { sleep: async () => {}, attempts: 2 };

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const close = (server: Server) =>
  new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });

/**
 * A Noise `whoami` server on node:http. `dropIdleAfterMs`: it drops a connection that long after
 * each answer, without announcing it (as a proxy dropping idle connections does).
 */
async function noiseServer(region: string, dropIdleAfterMs?: number) {
  const key = backend.generateKeyPair();
  const handler = createNoiseHandler({
    api: "verify",
    pattern: "IK",
    staticKeyPair: key,
    ops: { whoami: async () => ({ region }) },
  });
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const r = await handler(
      new Request(`http://x${req.url}`, {
        method: "POST",
        headers: req.headers as Record<string, string>,
        body: Buffer.concat(chunks),
      }),
    );
    const body = Buffer.from(await r.arrayBuffer());
    res.writeHead(r.status, {
      "content-type": r.headers.get("content-type") ?? "",
      "content-length": body.length,
    });
    res.end(body);
    if (dropIdleAfterMs !== undefined) setTimeout(() => req.socket.destroy(), dropIdleAfterMs);
  });
  const url = await listen(server);
  const ep: Endpoint = { url, serverPublicKey: key.publicKey, region };
  return { ep, key, server };
}

describe("the default node:http transport", () => {
  let us: Awaited<ReturnType<typeof noiseServer>>;
  let dropping: Awaited<ReturnType<typeof noiseServer>>;
  beforeAll(async () => {
    us = await noiseServer("us");
    dropping = await noiseServer("dropping", 100);
  });
  afterAll(async () => {
    await close(us.server);
    await close(dropping.server);
  });

  it("carries session calls and reuses its connection across calls", async () => {
    const connections = new Set<unknown>();
    us.server.on("connection", (s) => connections.add(s));
    const rpc = new NoiseRpc({ endpoints: [us.ep], retry: noSleep });
    for (let i = 0; i < 5; i++) expect(await rpc.call("verify", "whoami", {})).toEqual({ region: "us" });
    // one for the handshake and the calls, sequentially: one connection (keep-alive)
    expect(connections.size).toBe(1);
    rpc.close();
  });

  it("a connection the server dropped while idle is replaced: the next call answers", async () => {
    const rpc = new NoiseRpc({ endpoints: [dropping.ep], retry: noSleep });
    expect(await rpc.call("verify", "whoami", {})).toEqual({ region: "dropping" });
    await new Promise((r) => setTimeout(r, 400)); // the server dropped the connection at 100 ms
    expect(await rpc.call("verify", "whoami", {})).toEqual({ region: "dropping" });
    rpc.close();
  });

  it("a server that takes the request and never answers is a timeout, and the call fails over", async () => {
    let seen = 0;
    const hung = createServer(() => {
      seen++; // never answers
    });
    const url = await listen(hung);
    try {
      const rpc = new NoiseRpc({
        endpoints: [{ url, serverPublicKey: us.key.publicKey }, us.ep],
        retry: noSleep,
        timeoutMs: 300,
      });
      expect(await rpc.call("verify", "whoami", {})).toEqual({ region: "us" });
      expect(seen).toBe(2); // both attempts reached it, both timed out
      const only = new NoiseRpc({
        endpoints: [{ url, serverPublicKey: us.key.publicKey }],
        retry: noSleep,
        timeoutMs: 300,
      });
      const err = await only.call("verify", "whoami", {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      const cause = (err as Error).cause as AggregateError;
      expect(cause.errors.every((e) => e instanceof NoiseTransportError && e.code === "timeout")).toBe(true);
      rpc.close();
      only.close();
    } finally {
      await close(hung);
    }
  });

  it("a response declaring more than the bound is refused unread (response_too_large)", async () => {
    const huge = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-noise", "content-length": 64 * 1024 * 1024 });
      res.write(Buffer.alloc(1024));
    });
    const url = await listen(huge);
    try {
      const rpc = new NoiseRpc({ endpoints: [{ url, serverPublicKey: us.key.publicKey }], retry: noSleep });
      const err = await rpc.call("verify", "whoami", {}).catch((e: unknown) => e);
      const cause = (err as Error).cause as AggregateError;
      expect(err).toBeInstanceOf(UnavailableError);
      expect(cause.errors.map((e) => (e as NoiseTransportError).code)).toEqual([
        "response_too_large",
        "response_too_large",
      ]);
      rpc.close();
    } finally {
      await close(huge);
    }
  });

  /** The error one POST of the transport hook gets from `server` (a fresh transport, closed after). */
  async function postError(server: Server): Promise<NoiseTransportError> {
    const url = await listen(server);
    const t = nodeTransport();
    try {
      const err = await t
        .post({ url, headers: {}, body: new Uint8Array(1), timeoutMs: 5_000, maxResponseBytes: 100_000 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoiseTransportError);
      return err as NoiseTransportError;
    } finally {
      t.close();
      await close(server);
    }
  }

  it("an undeclared (chunked) body past the bound is cut at the bound (response_too_large)", async () => {
    const chunked = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-noise" }); // no length: chunked
      const tick = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 1);
      res.on("close", () => clearInterval(tick));
    });
    expect((await postError(chunked)).code).toBe("response_too_large");
  });

  it("a response cut short mid-body is a network error, never a short body", async () => {
    const cut = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/x-noise", "content-length": 1000 });
      res.write(Buffer.alloc(100), () => req.socket.destroy());
    });
    expect((await postError(cut)).code).toBe("network");
  });

  it("a small refusal that stalls mid-body loses its connection at the deadline (no socket held forever)", async () => {
    const stall = createServer((_req, res) => {
      res.writeHead(410, { "content-type": "text/plain", "content-length": 10 });
      res.write("ab"); // and never the rest
    });
    const socketClosed = new Promise<void>((r) => stall.on("connection", (s) => s.on("close", () => r())));
    const url = await listen(stall);
    const t = nodeTransport();
    try {
      const r = await t.post({
        url,
        headers: {},
        body: new Uint8Array(1),
        timeoutMs: 200,
        maxResponseBytes: 1000,
      });
      expect(r.status).toBe(410);
      await socketClosed; // destroyed at the 200 ms deadline (else: test timeout)
    } finally {
      t.close();
      await close(stall);
    }
  });

  it("a caller's abort ends a pending POST at once (aborted) and frees its socket", async () => {
    const hung = createServer(() => {});
    const socketClosed = new Promise<void>((r) => hung.on("connection", (s) => s.on("close", () => r())));
    const url = await listen(hung);
    const t = nodeTransport();
    try {
      const ac = new AbortController();
      const p = t.post({
        url,
        headers: {},
        body: new Uint8Array(1),
        timeoutMs: 60_000,
        maxResponseBytes: 1000,
        signal: ac.signal,
      });
      setTimeout(() => ac.abort(new Error("caller gave up")), 50);
      const err = await p.catch((e: unknown) => e);
      expect((err as NoiseTransportError).code).toBe("aborted");
      await socketClosed; // the connection is destroyed, not left to a later reuse (else: test timeout)
    } finally {
      t.close();
      await close(hung);
    }
  });

  it("an HTTP error status is a transport error (http_status) and the call fails over", async () => {
    const teapot = createServer((_req, res) => {
      res.writeHead(503, { "content-type": "text/plain" });
      res.end("busy");
    });
    const url = await listen(teapot);
    try {
      const rpc = new NoiseRpc({
        endpoints: [{ url, serverPublicKey: us.key.publicKey }, us.ep],
        retry: noSleep,
      });
      expect(await rpc.call("verify", "whoami", {})).toEqual({ region: "us" });
      rpc.close();
    } finally {
      await close(teapot);
    }
  });
});
