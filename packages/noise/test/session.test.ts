/**
 * Session mode (src/session*.ts): forward-secret requests as transport messages with explicit
 * counters. The handler runs in process; `fetch` is routed straight to it with a chosen remote
 * address, so every byte on the "wire" can be recorded, replayed, reordered or moved.
 */
import { describe, expect, it } from "vitest";
import { concatBytes, fromUtf8 } from "../src/bytes.js";
import { buildPrologue, decodeFrames, parseRequestPayload } from "../src/framing.js";
import {
  createNoiseHandler,
  HandshakeState,
  keyId,
  NOISE_IK,
  type NoiseHandlerOptions,
  type NoiseOpContext,
  NoiseRemoteError,
  type NoiseServerEvent,
  NoiseSession,
  NoiseTransportError,
  noiseCall,
  resolveBackend,
} from "../src/index.js";
import { ReplayCache } from "../src/replay-cache.js";
import { encodeCounter, REPLAY_WINDOW_BITS, ReplayWindow } from "../src/session.js";

const backend = resolveBackend("native");
const serverKey = backend.generateKeyPair();
const clientKey = backend.generateKeyPair();
const URL_BASE = "http://noise.test";

interface Wire {
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
  status: number;
}

function setup(extra: Partial<NoiseHandlerOptions> = {}) {
  const events: NoiseServerEvent[] = [];
  const ran: NoiseOpContext[] = [];
  const clock = { offset: 0 };
  const handler = createNoiseHandler({
    api: "verify",
    pattern: "IK",
    staticKeyPair: serverKey,
    backend,
    ops: {
      echo: async (ctx) => {
        ran.push(ctx);
        return { args: ctx.args, fs: ctx.forwardSecret, source: ctx.source };
      },
      secret: async (ctx) => {
        ran.push(ctx);
        return "stored";
      },
      big: async (ctx) => "y".repeat(Number(ctx.args.n)),
    },
    forwardSecretOps: ["secret"],
    now: () => Date.now() + clock.offset,
    onEvent: (e) => events.push(e),
    ...extra,
  } as NoiseHandlerOptions);
  const wire: Wire[] = [];
  const send = async (w: Omit<Wire, "status">, address = "127.0.0.1"): Promise<Response> =>
    handler(new Request(w.url, { method: "POST", headers: w.headers, body: w.body }), {
      remoteAddress: address,
    });
  const fetchFrom =
    (address: string): typeof fetch =>
    async (input, init) => {
      const w = {
        url: String(input),
        headers: { ...(init?.headers as Record<string, string>) },
        body: new Uint8Array(init?.body as Uint8Array),
      };
      const res = await send(w, address);
      wire.push({ ...w, status: res.status });
      return res;
    };
  const opens = () => handler.sessionsOpened;
  const session = (
    address = "127.0.0.1",
    more: Partial<ConstructorParameters<typeof NoiseSession>[0]> = {},
  ) =>
    new NoiseSession({
      url: URL_BASE,
      api: "verify",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
      fetch: fetchFrom(address),
      ...more,
    });
  return { handler, events, ran, clock, wire, send, fetchFrom, opens, session };
}

describe("ReplayWindow", () => {
  it("accepts each counter once, in any order, within the window; refuses repeats and counters too old", () => {
    const w = new ReplayWindow(64);
    for (const n of [5n, 3n, 4n, 0n, 60n, 10n]) {
      expect(w.check(n), `first ${n}`).toBe("ok");
      w.commit(n);
    }
    for (const n of [5n, 3n, 4n, 0n, 60n, 10n]) expect(w.check(n), `repeat ${n}`).toBe("replay");
    expect(w.check(1n)).toBe("ok");
    w.commit(70n);
    expect(w.check(5n)).toBe("too_old"); // 70 − 5 ≥ 64
    expect(w.check(6n)).toBe("too_old");
    expect(w.check(7n)).toBe("ok");
    expect(w.check(60n)).toBe("replay");
    expect(w.check(69n)).toBe("ok");
    w.commit(1000n);
    expect(w.check(70n)).toBe("too_old");
    expect(w.check(999n)).toBe("ok");
  });

  it("a counter checked but never committed (its message failed to decrypt) stays acceptable", () => {
    const w = new ReplayWindow();
    expect(w.check(9n)).toBe("ok");
    expect(w.check(9n)).toBe("ok");
    w.commit(9n);
    expect(w.check(9n)).toBe("replay");
    expect(REPLAY_WINDOW_BITS).toBeGreaterThanOrEqual(1024);
  });
});

describe("session mode over HTTP/Noise (in process)", () => {
  it("one handshake serves many calls; the opening message 1 carries no arguments; requests are transport messages", async () => {
    const t = setup();
    const s = t.session();
    for (let i = 0; i < 5; i++) {
      expect(await s.call("echo", { i, token: "FlyV1 marker-token" })).toEqual({
        args: { i, token: "FlyV1 marker-token" },
        fs: true,
        source: "127.0.0.1",
      });
    }
    expect(t.opens()).toBe(1);
    expect(t.wire[0]?.url).toBe(`${URL_BASE}/noise/v1/verify/session`);
    expect(t.wire[0]?.headers["Noise-Session"]).toBeUndefined();
    for (const w of t.wire.slice(1)) {
      expect(w.url).toBe(`${URL_BASE}/noise/v1/verify/echo`);
      expect(w.headers["Noise-Session"]).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(w.body).includes("marker-token")).toBe(false);
    }
    // message 1 of the handshake is 96 bytes + payload: {"v":1,"op":"session","ts":…,"rid":"…"}
    expect((t.wire[0]?.body.length ?? 0) - 96).toBeLessThan(80);
    s.close();
  });

  it("a byte-identical replay of a transport message gets the bare 400 and the op runs once", async () => {
    const t = setup();
    const s = t.session();
    await s.call("secret", { value: "x" });
    const request = t.wire.at(-1) as Wire;
    expect(t.ran).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      const res = await t.send(request);
      expect(res.status).toBe(400);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    }
    expect(t.ran).toHaveLength(1);
    expect(await s.call("echo", {})).toMatchObject({ fs: true }); // the session still works
  });

  it("transport messages delivered out of order are all accepted once", async () => {
    const t = setup();
    const held: { input: string; init: RequestInit; resolve: (r: Response) => void }[] = [];
    const s = t.session("127.0.0.1", {
      fetch: (async (input: string, init: RequestInit) => {
        if (String(input).endsWith("/session")) return t.fetchFrom("127.0.0.1")(input, init);
        return new Promise<Response>((resolve) => held.push({ input: String(input), init, resolve }));
      }) as typeof fetch,
    });
    const calls = [0, 1, 2, 3, 4].map((i) => s.call("echo", { i }));
    while (held.length < 5) await new Promise((r) => setTimeout(r, 5));
    for (const h of [...held].reverse()) h.resolve(await t.fetchFrom("127.0.0.1")(h.input, h.init));
    expect((await Promise.all(calls)).map((r) => (r as { args: { i: number } }).args.i)).toEqual([
      0, 1, 2, 3, 4,
    ]);
    expect(t.ran.map((c) => c.args.i)).toEqual([4, 3, 2, 1, 0]);
  });

  it("an expired session is answered 410 and the client re-handshakes and resends transparently", async () => {
    // the server's clock runs ahead of the client's (idle TTL passes); the ts window is wide enough
    const t2 = setup({ sessions: { idleTtlMs: 1_000 }, replayWindowMs: 120_000 });
    const s2 = t2.session();
    await s2.call("echo", { n: 1 });
    t2.clock.offset += 5_000;
    expect(await s2.call("echo", { n: 2 })).toMatchObject({ args: { n: 2 } });
    expect(t2.wire.map((w) => w.status)).toEqual([200, 200, 410, 200, 200]);
    expect(t2.opens()).toBe(2);
    expect(t2.ran.map((c) => c.args.n)).toEqual([1, 2]);
  });

  it("an unknown session id is 410; a session of one API is unknown to another", async () => {
    const t = setup();
    const other = setup();
    const s = t.session();
    await s.call("echo", {});
    const moved = { ...(t.wire.at(-1) as Wire) };
    expect((await other.send(moved)).status).toBe(410);
    expect(other.ran).toHaveLength(0);
  });

  it("a transport message moved to another op's path does not authenticate (the path is in the AD)", async () => {
    const t = setup();
    const s = t.session();
    await s.call("echo", { a: 1 });
    await s.call("echo", { a: 2 });
    const w = t.wire.at(-1) as Wire;
    const res = await t.send({ ...w, url: w.url.replace("/echo", "/secret") });
    expect(res.status).toBe(400);
    expect(t.ran).toHaveLength(2);
  });

  it("the api's own pattern is required: KK to an IK api and IK to a KK api are refused before any DH", async () => {
    const ik = setup();
    const kk = setup({
      api: "sign",
      pattern: "KK",
      allowedClientKeys: [clientKey.publicKey],
    } as Partial<NoiseHandlerOptions>);
    expect(
      () =>
        new NoiseSession({
          url: URL_BASE,
          api: "verify",
          pattern: "KK",
          serverPublicKey: serverKey.publicKey,
          clientStaticKey: clientKey,
        }),
    ).toThrow(/KK/);
    // A KK-shaped open (Noise-Client-Key header) at the IK api, and an IK open at the KK api.
    const kkSession = new NoiseSession({
      url: URL_BASE,
      api: "sign",
      pattern: "KK",
      serverPublicKey: serverKey.publicKey,
      clientStaticKey: clientKey,
      backend,
      fetch: (async (input: string, init: RequestInit) =>
        ik.fetchFrom("127.0.0.1")(String(input).replace("/sign/", "/verify/"), init)) as typeof fetch,
    });
    expect(await kkSession.call("echo", {}).catch((e: unknown) => e)).toMatchObject({
      code: "http_status",
      status: 400,
    });
    const ikAtKk = new NoiseSession({
      url: URL_BASE,
      api: "verify",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
      fetch: (async (input: string, init: RequestInit) =>
        kk.fetchFrom("127.0.0.1")(String(input).replace("/verify/", "/sign/"), init)) as typeof fetch,
    });
    expect(await ikAtKk.call("echo", {}).catch((e: unknown) => e)).toMatchObject({
      code: "http_status",
      status: 400,
    });
    expect(ik.ran.length + kk.ran.length).toBe(0);
    // The right pattern works on each.
    const good = new NoiseSession({
      url: URL_BASE,
      api: "sign",
      pattern: "KK",
      serverPublicKey: serverKey.publicKey,
      clientStaticKey: clientKey,
      backend,
      fetch: kk.fetchFrom("127.0.0.1"),
    });
    expect(await good.call("echo", { k: 1 })).toMatchObject({ fs: true });
  });

  it("a KK session checks the app's per-op allow-list on every op (encrypted forbidden)", async () => {
    const t = setup({
      api: "sign",
      pattern: "KK",
      allowedClientKeys: (key: Uint8Array, op?: string) =>
        Buffer.from(key).equals(Buffer.from(clientKey.publicKey)) && (op === undefined || op === "echo"),
    } as Partial<NoiseHandlerOptions>);
    const s = new NoiseSession({
      url: URL_BASE,
      api: "sign",
      pattern: "KK",
      serverPublicKey: serverKey.publicKey,
      clientStaticKey: clientKey,
      backend,
      fetch: t.fetchFrom("127.0.0.1"),
    });
    expect(await s.call("echo", {})).toMatchObject({ fs: true });
    expect(await s.call("secret", {}).catch((e: unknown) => e)).toMatchObject({ code: "forbidden" });
    expect(t.ran.map((c) => c.op)).toEqual(["echo"]);
  });

  it("the session table is bounded: LRU eviction, and a source over its share evicts only its own sessions", async () => {
    const t = setup({ sessions: { maxSessions: 4, maxPerSource: 2 } });
    const b = t.session("10.0.0.2");
    await b.call("echo", {});
    const a = [0, 1, 2, 3, 4].map(() => t.session("10.0.0.1"));
    for (const s of a) await s.call("echo", {});
    expect(t.handler.sessionCount).toBeLessThanOrEqual(4);
    const opensBefore = t.opens();
    await b.call("echo", {}); // B's session survived A's flood
    expect(t.opens()).toBe(opensBefore);
    await a[0]?.call("echo", {}); // A's oldest was evicted: 410, then a transparent re-handshake
    expect(t.opens()).toBe(opensBefore + 1);
    for (let i = 0; i < 6; i++) await t.session(`10.0.1.${i}`).call("echo", {});
    expect(t.handler.sessionCount).toBe(4);
  });

  it("a session is used for at most maxMessages counters; the client rotates before, a higher counter gets 410", async () => {
    const t = setup({ sessions: { maxMessages: 3 } });
    const s = t.session();
    for (let i = 0; i < 7; i++) await s.call("echo", { i });
    expect(t.opens()).toBe(3); // counters 0,1,2 | 0,1,2 | 0
    expect(t.wire.some((w) => w.status === 410)).toBe(false);
    const last = t.wire.at(-1) as Wire;
    const forged = concatBytes(encodeCounter(3n), last.body.subarray(8));
    expect((await t.send({ ...last, body: forged })).status).toBe(410);
    const huge = concatBytes(encodeCounter(0xffff_ffff_ffff_fffen), last.body.subarray(8));
    expect((await t.send({ ...last, body: huge })).status).toBe(410);
    expect(t.ran).toHaveLength(7);
  });

  it("a one-shot session (noiseCall's default) is dropped by the server once answered; a reused one stays", async () => {
    const t = setup();
    for (let i = 0; i < 5; i++) {
      const r = await noiseCall({
        url: URL_BASE,
        api: "verify",
        op: "echo",
        args: { i },
        pattern: "IK",
        serverPublicKey: serverKey.publicKey,
        clientStaticKey: clientKey,
        backend,
        fetch: t.fetchFrom("127.0.0.1"),
      });
      expect(r).toMatchObject({ args: { i }, fs: true });
    }
    expect(t.opens()).toBe(5);
    expect(t.handler.sessionCount).toBe(0); // was 5: each held until its idle TTL
    // The last message's session is gone: a replay of it (or anything on it) gets 410, not an answer.
    const last = t.wire.at(-1) as Wire;
    expect((await t.send(last)).status).toBe(410);
    const s = t.session();
    await s.call("echo", {});
    await s.call("echo", {});
    expect(t.handler.sessionCount).toBe(1);
    await s.call("echo", {}, { last: true });
    expect(t.handler.sessionCount).toBe(0);
    expect(await s.call("echo", { again: 1 })).toMatchObject({ args: { again: 1 } }); // a new session
    expect(t.opens()).toBe(7);
  });

  it("no call starts on a session whose last call is in flight (it would meet a 410 and re-handshake)", async () => {
    const t = setup();
    const base = t.fetchFrom("127.0.0.1");
    let hold: Promise<void> | undefined;
    const fetchHeld: typeof fetch = async (input, init) => {
      const r = await base(input, init);
      if (hold !== undefined) await hold; // the answer reached the client's door, not the client
      return r;
    };
    const s = t.session("127.0.0.1", { fetch: fetchHeld });
    await s.call("echo", {});
    let release = () => {};
    hold = new Promise<void>((r) => {
      release = r;
    });
    const last = s.call("echo", { n: 1 }, { last: true });
    while (t.wire.length < 3) await new Promise((r) => setTimeout(r, 1)); // answered: the server dropped it
    hold = undefined;
    expect(await s.call("echo", { n: 2 })).toMatchObject({ args: { n: 2 } });
    release();
    expect(await last).toMatchObject({ args: { n: 1 } });
    expect(t.wire.map((w) => w.status)).not.toContain(410);
    expect(t.opens()).toBe(2);
  });

  it("a request's `end` is true or absent; any other value is a bad request", () => {
    const req = (end: unknown) =>
      parseRequestPayload(
        new TextEncoder().encode(
          JSON.stringify({ v: 1, op: "echo", ts: 1, rid: "AAAAAAAAAAAAAAAAAAAAAA", args: {}, end }),
        ),
      );
    expect(req(1)).toBe("invalid end");
    expect(req(false)).toBe("invalid end");
    expect(req(true)).toMatchObject({ end: true });
    expect(req(undefined)).not.toHaveProperty("end");
  });

  it("closing the server's sessions wipes them; the client re-handshakes on the 410", async () => {
    const t = setup();
    const s = t.session();
    await s.call("echo", {});
    t.handler.closeSessions();
    expect(t.handler.sessionCount).toBe(0);
    expect(await s.call("echo", { again: true })).toMatchObject({ args: { again: true } });
    expect(t.opens()).toBe(2);
  });

  it("a response longer than one Noise message arrives in several frames under distinct nonces", async () => {
    const t = setup();
    const s = t.session();
    const n = 200_000;
    expect(await s.call("big", { n })).toBe("y".repeat(n));
  });

  it("with messageOneOps (the allow-list form) every unlisted op, even one added later, is refused in message 1", async () => {
    const t = setup({ forwardSecretOps: undefined, messageOneOps: ["echo"] });
    const call = (op: string) =>
      noiseCall({
        url: URL_BASE,
        api: "verify",
        op,
        pattern: "IK",
        serverPublicKey: serverKey.publicKey,
        backend,
        mode: "request",
        args: { n: 1 },
        fetch: t.fetchFrom("127.0.0.1"),
      }).catch((e: unknown) => e);
    expect(await call("echo")).toMatchObject({ fs: false });
    for (const op of ["secret", "big"]) {
      const r = await call(op);
      expect(r, op).toBeInstanceOf(NoiseRemoteError);
      expect(r, op).toMatchObject({ code: "forward_secrecy_required" });
    }
    expect(() => setup({ messageOneOps: ["echo"] })).toThrow(/not both/);
  });

  it("ops listed as forward-secret are refused in message 1 (forward_secrecy_required) and served in a session", async () => {
    const t = setup();
    const perRequest = await noiseCall({
      url: URL_BASE,
      api: "verify",
      op: "secret",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
      mode: "request",
      fetch: t.fetchFrom("127.0.0.1"),
    }).catch((e: unknown) => e);
    expect(perRequest).toBeInstanceOf(NoiseRemoteError);
    expect(perRequest).toMatchObject({ code: "forward_secrecy_required" });
    expect(t.ran).toHaveLength(0);
    const viaSession = await noiseCall({
      url: URL_BASE,
      api: "verify",
      op: "secret",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
      fetch: t.fetchFrom("127.0.0.1"),
    });
    expect(viaSession).toBe("stored");
    // echo (not listed) still works per request
    const echo = await noiseCall({
      url: URL_BASE,
      api: "verify",
      op: "echo",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
      mode: "request",
      fetch: t.fetchFrom("127.0.0.1"),
    });
    expect(echo).toMatchObject({ fs: false });
  });

  it("forged, truncated or bit-flipped session messages get a bare 400 and never close the session", async () => {
    const t = setup();
    const s = t.session();
    await s.call("echo", {});
    const w = t.wire.at(-1) as Wire;
    const flipped = Uint8Array.from(w.body);
    flipped[20] = (flipped[20] as number) ^ 1;
    for (const body of [
      flipped,
      w.body.subarray(0, 10),
      new Uint8Array(0),
      concatBytes(encodeCounter(99n), w.body.subarray(8)),
    ]) {
      expect((await t.send({ ...w, body })).status).toBe(400);
    }
    expect((await t.send({ ...w, headers: { ...w.headers, "Noise-Session": "nope" } })).status).toBe(400);
    expect(await s.call("echo", { still: 1 })).toMatchObject({ args: { still: 1 } });
    expect(t.opens()).toBe(1);
  });

  it("a session open whose message 1 carries args is refused (bad_request) and opens nothing", async () => {
    const t = setup();
    const s = t.session();
    await s.call("echo", {});
    const path = "/noise/v1/verify/session";
    const kid = keyId(serverKey.publicKey, backend);
    const hs = new HandshakeState({
      protocolName: NOISE_IK,
      initiator: true,
      prologue: buildPrologue(path, kid, ""),
      staticKeyPair: clientKey,
      remoteStaticKey: serverKey.publicKey,
      backend,
    });
    const payload = { v: 1, op: "session", ts: Date.now(), rid: "AAAAAAAAAAAAAAAAAAAAAA", args: { x: 1 } };
    const res = await t.send({
      url: `${URL_BASE}${path}`,
      headers: { "Content-Type": "application/x-noise", "Noise-Server-Key": kid },
      body: hs.writeMessage(new TextEncoder().encode(JSON.stringify(payload))),
    });
    expect(res.status).toBe(200);
    const frames = decodeFrames(new Uint8Array(await res.arrayBuffer())) as Uint8Array[];
    expect(JSON.parse(fromUtf8(hs.readMessage(frames[0] as Uint8Array)))).toMatchObject({
      ok: false,
      error: { code: "bad_request" },
    });
    expect(t.handler.sessionCount).toBe(1); // only the session s opened
  });
});

describe("per-source budget of the seen-ephemeral set", () => {
  const perRequest = (t: ReturnType<typeof setup>, address: string, extra: Record<string, unknown> = {}) =>
    noiseCall({
      url: URL_BASE,
      api: "verify",
      op: "echo",
      pattern: "IK",
      serverPublicKey: serverKey.publicKey,
      backend,
      mode: "request",
      fetch: t.fetchFrom(address),
      ...extra,
    }).catch((e: unknown) => e);

  it("one address flooding fresh handshakes exhausts only its own budget; another address is served", async () => {
    const t = setup({ replayCachePerSource: 5 });
    for (let i = 0; i < 5; i++) expect(await perRequest(t, "10.1.1.1")).toMatchObject({ fs: false });
    expect(await perRequest(t, "10.1.1.1")).toMatchObject({ code: "unavailable" });
    expect(await perRequest(t, "10.2.2.2")).toMatchObject({ fs: false });
    // an IPv6 flooder is one source per /64, whatever its interface id
    for (let i = 0; i < 5; i++) await perRequest(t, `2001:db8:1:2::${i + 1}`);
    expect(await perRequest(t, "2001:db8:1:2:ffff::9")).toMatchObject({ code: "unavailable" });
    expect(await perRequest(t, "2001:db8:1:3::1")).toMatchObject({ fs: false });
  });

  it("stale-timestamp, wrong-op and forward-secrecy refusals never take space in the set", async () => {
    const t = setup({ replayCachePerSource: 3 });
    for (let i = 0; i < 10; i++) {
      expect(await perRequest(t, "10.1.1.1", { now: () => Date.now() - 120_000 })).toMatchObject({
        code: "stale_request",
      });
      expect(await perRequest(t, "10.1.1.1", { op: "secret" })).toMatchObject({
        code: "forward_secrecy_required",
      });
      expect(await perRequest(t, "10.1.1.1", { op: "nope" })).toMatchObject({ code: "unknown_op" });
    }
    for (let i = 0; i < 3; i++) expect(await perRequest(t, "10.1.1.1")).toMatchObject({ fs: false });
  });

  it("ReplayCache: a source's entries free up as they expire", () => {
    const c = new ReplayCache(100, 2);
    expect(c.checkAndAdd("a", 0, 10, "s")).toBe("fresh");
    expect(c.checkAndAdd("b", 0, 10, "s")).toBe("fresh");
    expect(c.checkAndAdd("c", 0, 10, "s")).toBe("full");
    expect(c.checkAndAdd("c", 0, 10, "t")).toBe("fresh");
    expect(c.checkAndAdd("a", 5, 15, "t")).toBe("replay");
    expect(c.checkAndAdd("d", 11, 20, "s")).toBe("fresh");
    expect(c.sizeOf("s")).toBe(1);
  });
});

describe("transport errors in session mode", () => {
  it("a server that keeps answering 410 ends in a session_gone transport error, not a loop", async () => {
    const t = setup();
    const s = t.session("127.0.0.1", {
      fetch: (async (input: string, init: RequestInit) => {
        if (String(input).endsWith("/session")) return t.fetchFrom("127.0.0.1")(input, init);
        return new Response(null, { status: 410 });
      }) as typeof fetch,
    });
    const e = await s.call("echo", {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NoiseTransportError);
    expect(e).toMatchObject({ code: "session_gone" });
    expect(t.opens()).toBe(2);
  });
});
