/**
 * Security issue 12 item 9: transport denial of service.
 *
 * - 500 connections from 127.0.0.1 that send their headers or their body one byte at a time are
 *   closed by the server within its request timeout (10 s by default), while a normal call from
 *   127.0.0.2 is served. Before the fix they stayed open for minutes (Node's 300 s default).
 * - One address flooding fresh handshakes fills only its own share of the seen-ephemeral set: it
 *   gets `unavailable`, another address is still served. Before the fix the set was shared by
 *   every caller and filled before the timestamp and op checks.
 * - Messages with a stale timestamp or a wrong op never take space in that set.
 */
import { Agent, request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { PetsemClient } from "@tkdb/client";
import { buildPrologue, decodeFrames, HandshakeState, keyId, NOISE_IK, resolveBackend } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hex, key32, type RunningService, startService, tempDir, x25519 } from "../harness.js";

const backend = resolveBackend("native");
const dir = tempDir("e2e-transport-dos");
/** The services' defaults (DEFAULT_HTTP_LIMITS, DEFAULT replayCachePerSource). */
const REQUEST_TIMEOUT_MS = 10_000;
const PER_SOURCE_BUDGET = 4096;

let petsem: RunningService;
let port = 0;

/** A fetch whose connections leave from `localAddress` (any 127/8 address reaches 127.0.0.1). */
function fetchFrom(localAddress: string): typeof fetch {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  return (async (input: string | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const body = init?.body === undefined ? undefined : Buffer.from(init.body as Uint8Array);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v;
    });
    if (body) headers["content-length"] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: init?.method ?? "GET",
          headers,
          agent,
          localAddress,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
            const status = res.statusCode ?? 500;
            resolve(
              new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), {
                status,
                headers: h,
              }),
            );
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      init?.signal?.addEventListener("abort", () => req.destroy(new Error("aborted")), { once: true });
      req.end(body);
    });
  }) as typeof fetch;
}

function clientFrom(localAddress: string): PetsemClient {
  return new PetsemClient({
    endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }],
    fetch: fetchFrom(localAddress),
    timeoutMs: 15_000,
    retry: { attempts: 1 },
  });
}

/** One per-request message 1 to `health`, with a chosen payload op and timestamp; the server's answer code. */
async function rawHealth(f: typeof fetch, payload: { op: string; ts: number }): Promise<string> {
  const path = "/noise/v1/secrets/health";
  const kid = keyId(petsem.publicKey, backend);
  const hs = new HandshakeState({
    protocolName: NOISE_IK,
    initiator: true,
    prologue: buildPrologue(path, kid, ""),
    staticKeyPair: backend.generateKeyPair(),
    remoteStaticKey: petsem.publicKey,
    backend,
  });
  const rid = Buffer.from(backend.randomBytes(16)).toString("base64url");
  const msg1 = hs.writeMessage(new TextEncoder().encode(JSON.stringify({ v: 1, ...payload, rid, args: {} })));
  const res = await f(`${petsem.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-noise", "Noise-Server-Key": kid },
    body: msg1,
  });
  if (res.status !== 200) return `http_${res.status}`;
  const frames = decodeFrames(new Uint8Array(await res.arrayBuffer())) as Uint8Array[];
  const answer = JSON.parse(new TextDecoder().decode(hs.readMessage(frames[0] as Uint8Array)));
  return answer.ok ? "ok" : answer.error.code;
}

/** Run `n` calls, `width` at a time; count the outcomes. */
async function flood(n: number, width: number, one: () => Promise<string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        next++;
        const code = await one();
        counts.set(code, (counts.get(code) ?? 0) + 1);
      }
    }),
  );
  return counts;
}

beforeAll(async () => {
  petsem = await startService("petsem", {
    PETSEM_PORT: "0",
    PETSEM_DATA_DIR: join(dir.path, "petsem"),
    PETSEM_KEK: hex(key32()),
    PETSEM_NOISE_KEY: hex(x25519().secretKey),
  });
  port = Number(new URL(petsem.url).port);
}, 60_000);

afterAll(async () => {
  await petsem?.stop();
  dir.remove();
});

describe("slow clients cannot starve others", () => {
  it("500 slow-header and slow-body connections from 127.0.0.1 are closed by the server within its request timeout while 127.0.0.2 is served", async () => {
    const started = Date.now();
    const closedAt: number[] = [];
    const sockets: Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    const header =
      "POST /noise/v1/secrets/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-noise\r\n";
    await Promise.all(
      Array.from(
        { length: 500 },
        (_, i) =>
          new Promise<void>((resolve) => {
            const s = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.1" }, () => resolve());
            sockets.push(s);
            s.on("error", () => {});
            s.on("close", () => {
              closedAt.push(Date.now() - started);
              resolve();
            });
            // Even sockets dribble their headers; odd ones send full headers, then dribble a body.
            let pending = i % 2 === 0 ? header : `${header}Content-Length: 60000\r\n\r\n`;
            if (i % 2 === 1) {
              s.write(pending);
              pending = "x".repeat(60_000);
            }
            let off = 0;
            const t = setInterval(() => {
              if (s.destroyed || off >= pending.length) return;
              s.write(pending[off++] as string);
            }, 500);
            timers.push(t);
          }),
      ),
    );

    // While they hang on, a normal caller from another address is served.
    const other = clientFrom("127.0.0.2");
    expect(await other.health()).toEqual({ status: "ok" });

    // Every slow connection is closed by the server (we never close them) within the timeout,
    // plus the server's 1 s check interval and slack for a busy machine.
    const deadline = REQUEST_TIMEOUT_MS + 8_000;
    while (closedAt.length < 500 && Date.now() - started < deadline + 5_000) {
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const t of timers) clearInterval(t);
    const open = sockets.filter((s) => !s.destroyed).length;
    for (const s of sockets) s.destroy();
    expect(open, "slow connections still open after the timeout").toBe(0);
    expect(closedAt.length).toBe(500);
    expect(Math.max(...closedAt)).toBeLessThan(deadline);
    // and the service is still there afterwards
    expect(await other.health()).toEqual({ status: "ok" });
  }, 60_000);

  it("one address flooding fresh handshakes exhausts only its own budget (unavailable) while another address is served; its stale-timestamp and wrong-op messages take no space", async () => {
    const flooder = fetchFrom("127.0.0.4");
    const fresh = () => rawHealth(flooder, { op: "health", ts: Date.now() });
    // Fill all but 10 of the flooder's budget.
    const first = await flood(PER_SOURCE_BUDGET - 10, 16, fresh);
    expect([...first.entries()]).toEqual([["ok", PER_SOURCE_BUDGET - 10]]);
    // Refused messages: had they been recorded, the budget would now be spent.
    const stale = await flood(200, 16, () => rawHealth(flooder, { op: "health", ts: Date.now() - 120_000 }));
    const wrong = await flood(200, 16, () => rawHealth(flooder, { op: "list", ts: Date.now() }));
    expect([...stale.entries()]).toEqual([["stale_request", 200]]);
    expect([...wrong.entries()]).toEqual([["op_mismatch", 200]]);
    const last = await flood(10, 1, fresh);
    expect([...last.entries()]).toEqual([["ok", 10]]);
    // Now the flooder's share is spent: it alone gets `unavailable`.
    const over = await flood(100, 16, fresh);
    expect([...over.entries()]).toEqual([["unavailable", 100]]);
    // Another address: a fresh per-request call and a full session call both work.
    expect(await rawHealth(fetchFrom("127.0.0.5"), { op: "health", ts: Date.now() })).toBe("ok");
    expect(await clientFrom("127.0.0.5").health()).toEqual({ status: "ok" });
  }, 180_000);
});
