import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createNoiseHandler, type KeyPair, NoiseRemoteError, resolveBackend } from "@tkdb/noise";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../src/errors.js";
import { type Endpoint, NoiseRpc } from "../src/rpc.js";

/** Real HTTP/Noise servers on loopback answering `whoami` with their region. */
const backend = resolveBackend("native");
type Server = { ep: Endpoint; close: () => Promise<void>; calls: number; key: KeyPair };

async function start(region: string, opts: { primary?: boolean; stale?: boolean } = {}): Promise<Server> {
  const key = backend.generateKeyPair();
  const s: Partial<Server> = { calls: 0, key };
  const handler = createNoiseHandler({
    api: "verify",
    pattern: "IK",
    staticKeyPair: key,
    ops: {
      whoami: async () => {
        (s as Server).calls++;
        return { region };
      },
      write: async () => {
        (s as Server).calls++;
        if (opts.primary === false) throw Object.assign(new Error("primary is us"), { code: "not_primary" });
        return { region };
      },
      read: async () => {
        (s as Server).calls++;
        // a replica that cannot hear its primary (tkdb's TKDB_STALE_AFTER_MS)
        if (opts.stale === true) throw Object.assign(new Error("replica is stale"), { code: "stale" });
        return { region };
      },
      refuse: async () => {
        (s as Server).calls++;
        throw Object.assign(new Error("no"), { code: "forbidden" });
      },
    },
  });
  const app = new Hono();
  app.post("/noise/v1/verify/:op", (c) => handler(c.req.raw));
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const srv = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(srv));
  });
  const port = (server.address() as AddressInfo).port;
  s.ep = { url: `http://127.0.0.1:${port}`, serverPublicKey: key.publicKey, region };
  s.close = () => new Promise<void>((r) => server.close(() => r()));
  return s as Server;
}

/** An endpoint nobody listens on: a port we bound and released. */
async function deadEndpoint(): Promise<Endpoint> {
  const s = await start("dead");
  await s.close();
  return s.ep;
}

const noSleep = { sleep: async () => {}, attempts: 2 };

describe("NoiseRpc failover over real loopback HTTP/Noise", () => {
  let us: Server;
  let eu: Server;
  beforeAll(async () => {
    us = await start("us");
    eu = await start("eu", { primary: false });
  });
  afterAll(async () => {
    await us.close();
    await eu.close();
  });

  it("uses the nearest endpoint when it answers", async () => {
    const rpc = new NoiseRpc({ endpoints: [eu.ep, us.ep], retry: noSleep });
    expect(await rpc.call("verify", "whoami", {})).toEqual({ region: "eu" });
  });

  it("fails over to the next endpoint when the nearest is down", async () => {
    const rpc = new NoiseRpc({ endpoints: [await deadEndpoint(), us.ep], retry: noSleep, timeoutMs: 2000 });
    expect(await rpc.call("verify", "whoami", {})).toEqual({ region: "us" });
  });

  it("moves a write refused as not_primary on to the next endpoint", async () => {
    const rpc = new NoiseRpc({ endpoints: [eu.ep, us.ep], retry: noSleep });
    expect(await rpc.call("verify", "write", {}, { mutating: true })).toEqual({ region: "us" });
  });

  it("moves a read answered `stale` (a replica that cannot hear its primary) on to the next endpoint", async () => {
    const stale = await start("syd", { stale: true });
    try {
      const rpc = new NoiseRpc({ endpoints: [stale.ep, us.ep], retry: noSleep });
      expect(await rpc.call("verify", "read", {})).toEqual({ region: "us" });
      expect(stale.calls).toBeGreaterThanOrEqual(1);
      // alone, the stale replica's answer reaches the caller as `stale`, never as data
      const only = new NoiseRpc({ endpoints: [stale.ep], retry: noSleep });
      await expect(only.call("verify", "read", {})).rejects.toMatchObject({ code: "stale" });
    } finally {
      await stale.close();
    }
  });

  it("does not retry an authenticated refusal", async () => {
    const before = us.calls;
    const rpc = new NoiseRpc({ endpoints: [us.ep, eu.ep], retry: noSleep });
    await expect(rpc.call("verify", "refuse", {})).rejects.toBeInstanceOf(NoiseRemoteError);
    expect(us.calls - before).toBe(1);
  });

  it("every endpoint down → UnavailableError, after retrying each", async () => {
    const rpc = new NoiseRpc({
      endpoints: [await deadEndpoint(), await deadEndpoint()],
      retry: noSleep,
      timeoutMs: 2000,
    });
    await expect(rpc.call("verify", "whoami", {})).rejects.toBeInstanceOf(UnavailableError);
  });

  it("a server answering with another static key is not trusted (transport error, then failover)", async () => {
    const impostor: Endpoint = { ...us.ep, serverPublicKey: eu.key.publicKey };
    const rpc = new NoiseRpc({ endpoints: [impostor], retry: noSleep });
    await expect(rpc.call("verify", "whoami", {})).rejects.toBeInstanceOf(UnavailableError);
  });
});
