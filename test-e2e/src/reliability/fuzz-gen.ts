/**
 * Generators and raw wire helpers for the hostile-input fuzzer (fuzz.test.ts): every RPC of tkdb
 * and petsem, message 1 built by hand (so the fuzzer can send what no client would), response
 * frames opened by hand, and fast-check arbitraries for mutated bytes, tokens, tickets, caveat
 * JSON and op arguments.
 */
import { randomBytes } from "node:crypto";
import { flyRegistry } from "@tkdb/caveats";
import {
  base64Decode,
  base64Encode,
  type Caveat,
  caveatSetFromJSON,
  encodeAuthorizationHeader,
  type Macaroon,
  MsgpackWriter,
  UnregisteredCaveat,
} from "@tkdb/macaroon";
import {
  buildPrologue,
  decodeFrames,
  encodeClientKey,
  HandshakeState,
  type KeyPair,
  keyId,
  NOISE_CLIENT_KEY_HEADER,
  NOISE_CONTENT_TYPE,
  NOISE_IK,
  NOISE_KK,
  NOISE_SERVER_KEY_HEADER,
  type NoiseApi,
  type NoiseCrypto,
  resolveBackend,
} from "@tkdb/noise";
import { UNSAFE_TEST_ONLY_injectEphemeralKeys } from "@tkdb/noise/unsafe-testing";
import fc from "fast-check";
import { Agent, fetch as undiciFetch } from "undici";

// ---- the surface -------------------------------------------------------------------------------

export type Service = "tkdb" | "petsem";

export interface Endpoint {
  service: Service;
  api: NoiseApi;
  op: string;
  pattern: "IK" | "KK";
  mutating: boolean;
  /**
   * Carries tokens or values: refused in handshake message 1 (`forward_secrecy_required`), sent
   * only inside a session (packages/noise README "Session mode"; tkdb: verify, discharge, strip,
   * revoke; petsem: every op but health).
   */
  forwardSecret: boolean;
}

/** Every op of both services (tkdb server.ts, petsem rpc.ts). */
export const ENDPOINTS: readonly Endpoint[] = [
  { service: "tkdb", api: "verify", op: "verify", pattern: "IK", mutating: false, forwardSecret: true },
  { service: "tkdb", api: "verify", op: "revocations", pattern: "IK", mutating: false, forwardSecret: false },
  { service: "tkdb", api: "verify", op: "discharge", pattern: "IK", mutating: true, forwardSecret: true },
  { service: "tkdb", api: "verify", op: "health", pattern: "IK", mutating: false, forwardSecret: false },
  { service: "tkdb", api: "sign", op: "org_create", pattern: "KK", mutating: true, forwardSecret: false },
  { service: "tkdb", api: "sign", op: "mint", pattern: "KK", mutating: true, forwardSecret: false },
  { service: "tkdb", api: "sign", op: "revoke", pattern: "KK", mutating: true, forwardSecret: true },
  { service: "tkdb", api: "sign", op: "strip", pattern: "KK", mutating: true, forwardSecret: true },
  { service: "petsem", api: "secrets", op: "set", pattern: "IK", mutating: true, forwardSecret: true },
  { service: "petsem", api: "secrets", op: "unset", pattern: "IK", mutating: true, forwardSecret: true },
  { service: "petsem", api: "secrets", op: "list", pattern: "IK", mutating: false, forwardSecret: true },
  { service: "petsem", api: "secrets", op: "rollback", pattern: "IK", mutating: true, forwardSecret: true },
  { service: "petsem", api: "secrets", op: "resolve", pattern: "IK", mutating: false, forwardSecret: true },
  { service: "petsem", api: "secrets", op: "health", pattern: "IK", mutating: false, forwardSecret: false },
];

/** Codes the Noise handler itself sends after authentication for a bad request (server.ts). */
export const ENVELOPE_CODES = ["bad_request", "op_mismatch", "stale_request", "unknown_op"] as const;

/** The handler's refusal of a `forwardSecret` op that arrived in message 1 (server.ts). */
export const FORWARD_SECRECY_REQUIRED = "forward_secrecy_required";

/**
 * The typed refusals each service documents for a client's mistake (apps/*\/src/errors.ts). Codes
 * meaning "the server broke" (internal, storage, corrupt, integrity, audit_*, config, wrong_kek,
 * backup) are deliberately absent: hostile input must never produce them.
 */
export const TYPED_CODES: Readonly<Record<Service, ReadonlySet<string>>> = {
  tkdb: new Set([
    "bad_request", // the Noise envelope's own code (tkdb's argument checks send invalid_request)
    "invalid_request",
    "unauthorized",
    "not_found",
    "revoked",
    "forbidden",
    "unknown_op",
  ]),
  petsem: new Set([
    "invalid_request",
    "invalid_name",
    "reserved_name",
    "too_large",
    "too_many",
    "cas_mismatch",
    "not_found",
    "stale",
    "idempotency_mismatch",
    "unauthorized",
    "forbidden",
    "unknown_op",
  ]),
};

export interface Target extends Endpoint {
  url: string;
  serverPublicKey: Uint8Array;
  /** KK: the allow-listed signer; IK: undefined (a fresh key per message). */
  clientStaticKey?: KeyPair;
}

// ---- message 1 by hand, response by hand ------------------------------------------------------

const native: NoiseCrypto = resolveBackend("native");
export const noiseCrypto = native;

/** What fetch accepts as a body. */
export type Body = NonNullable<RequestInit["body"]>;

export const utf8 = (s: string) => new TextEncoder().encode(s);

export function newRid(): string {
  return Buffer.from(randomBytes(16)).toString("base64url");
}

/** The request JSON a client would send (`{v, op, ts, rid, args}`), as bytes. */
export function requestPlain(op: string, args: unknown, o: { ts?: number; rid?: string } = {}): Uint8Array {
  return utf8(JSON.stringify({ v: 1, op, ts: o.ts ?? Date.now(), rid: o.rid ?? newRid(), args }));
}

export interface Msg1 {
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** The initiator's state after writing message 1: opens the response. */
  hs: HandshakeState;
}

/**
 * Message 1 for `t` carrying `plaintext` verbatim. `ephemeral` fixes the initiator's ephemeral key
 * (test-only hook) so two calls give byte-identical messages: a replay whose answer can be opened.
 */
export function buildMsg1(
  t: Target,
  plaintext: Uint8Array,
  o: { ephemeral?: Uint8Array; clientStaticKey?: KeyPair; pathOp?: string } = {},
): Msg1 {
  const path = `/noise/v1/${t.api}/${o.pathOp ?? t.op}`;
  const kid = keyId(t.serverPublicKey, native);
  const s = o.clientStaticKey ?? t.clientStaticKey ?? native.generateKeyPair();
  const clientHeader = t.pattern === "KK" ? encodeClientKey(s.publicKey) : "";
  const hs = new HandshakeState({
    protocolName: t.pattern === "KK" ? NOISE_KK : NOISE_IK,
    initiator: true,
    prologue: buildPrologue(path, kid, clientHeader),
    staticKeyPair: s,
    remoteStaticKey: t.serverPublicKey,
    backend: native,
  });
  if (o.ephemeral) UNSAFE_TEST_ONLY_injectEphemeralKeys(hs, [o.ephemeral]);
  const body = hs.writeMessage(plaintext);
  const headers: Record<string, string> = {
    "Content-Type": NOISE_CONTENT_TYPE,
    [NOISE_SERVER_KEY_HEADER]: kid,
  };
  if (t.pattern === "KK") headers[NOISE_CLIENT_KEY_HEADER] = clientHeader;
  return { path, headers, body, hs };
}

export type HttpResult =
  | { status: number; contentType: string | null; body: Uint8Array }
  | { error: string; timedOut: boolean };

/**
 * Loopback source addresses of the hostile traffic (any 127/8 address reaches a server bound to
 * 127.0.0.1). The legitimate clients of the stack connect from 127.0.0.1; the transport flood and
 * the payload fuzzer each from their own address, as separate attackers would: the server's
 * per-address budgets (connections, sessions, seen-ephemeral entries) charge them, not the
 * legitimate clients, and the "afterwards" checks show those were never denied service.
 */
export const TRANSPORT_SOURCE = "127.0.0.2";
export const PAYLOAD_SOURCE = "127.0.0.3";

const agents = new Map<string, Agent>();

/**
 * A fetch whose connections leave from `localAddress`, on its own connection pool (the hostile
 * traffic never shares a pooled connection with the legitimate clients). An idle pooled connection
 * is dropped after 1 s, well inside the server's 5 s keep-alive, as a margin against writing a
 * request into a connection the server is closing for idleness while the test process is stalled
 * by input generation (a client-side race, not the property under test; nodejs/node#35526).
 */
export function fetchFrom(localAddress: string): typeof fetch {
  let agent = agents.get(localAddress);
  if (agent === undefined) {
    agent = new Agent({ localAddress, keepAliveTimeout: 1_000, keepAliveTimeoutThreshold: 4_000 });
    agents.set(localAddress, agent);
  }
  const dispatcher = agent;
  return ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher } as Parameters<
      typeof undiciFetch
    >[1])) as unknown as typeof fetch;
}

/** Close the pools fetchFrom opened. */
export async function closeSources(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((a) => a.close()));
}

/**
 * One POST (or any method) with a hard timeout: a hang is an outcome, never a stuck test. `from`:
 * the loopback source address (default: the process's ordinary fetch, from 127.0.0.1).
 */
export async function send(
  url: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: Body | null; from?: string },
  timeoutMs = 10_000,
): Promise<HttpResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const req: RequestInit & { duplex?: "half" } = {
      method: init.method ?? "POST",
      headers: init.headers ?? {},
      body: init.body ?? null,
      signal,
    };
    if (init.body instanceof ReadableStream) req.duplex = "half";
    const doFetch = init.from === undefined ? fetch : fetchFrom(init.from);
    const res = await doFetch(url + path, req);
    const body = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, contentType: res.headers.get("content-type"), body };
  } catch (e) {
    return { error: (e as Error).name ?? "error", timedOut: signal.aborted };
  }
}

/** One POST exactly as a client's fetch sent it. */
export interface RecordedPost {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/**
 * A fetch that records every request (a copy of its headers and body bytes) before sending it, for
 * a `NoiseSession`: the recorded session transport message can then be replayed byte for byte.
 */
export function recordingFetch(): { fetch: typeof fetch; posts: RecordedPost[] } {
  const posts: RecordedPost[] = [];
  const rec: typeof fetch = (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const body = init?.body;
    if (!(body instanceof Uint8Array)) throw new Error("recordingFetch: expected a Uint8Array body");
    posts.push({
      url,
      path: new URL(url).pathname,
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: Uint8Array.from(body),
    });
    return fetch(input, init);
  };
  return { fetch: rec, posts };
}

export interface Opened {
  ok: boolean;
  code?: string;
  rid?: string;
  result?: unknown;
}

/** Opens a 200 response with the initiator state of its message 1; null if it does not open. */
export function openResponse(hs: HandshakeState, body: Uint8Array): Opened | null {
  const frames = decodeFrames(body);
  if (frames === null || frames.length === 0) return null;
  try {
    const chunks = [hs.readMessage(frames[0] as Uint8Array)];
    const { receive } = hs.split();
    for (const f of frames.slice(1)) chunks.push(receive.decryptWithAd(new Uint8Array(0), f));
    const x = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    if (x.ok === true) return { ok: true, rid: x.rid, result: x.result };
    return { ok: false, rid: x.rid, code: String(x.error?.code) };
  } catch {
    return null;
  }
}

// ---- byte mutations ---------------------------------------------------------------------------

/** A deterministic byte filler (xorshift32) so large random bodies cost nothing to shrink. */
export function fill(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export type ByteMutation =
  | { kind: "random"; len: number; seed: number }
  | { kind: "truncate"; at: number }
  | { kind: "bitflip"; bits: number[] }
  | { kind: "append"; extra: Uint8Array };

/** Random bytes of any length up to the limit, or message 1 truncated / bit-flipped / extended. */
export function byteMutation(msgLen: number): fc.Arbitrary<ByteMutation> {
  return fc.oneof(
    fc.record({
      kind: fc.constant("random" as const),
      len: fc.oneof(fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: 65535 })),
      seed: fc.integer(),
    }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.integer({ min: 0, max: msgLen - 1 }) }),
    fc.record({
      kind: fc.constant("bitflip" as const),
      bits: fc.uniqueArray(fc.integer({ min: 0, max: msgLen * 8 - 1 }), { minLength: 1, maxLength: 8 }),
    }),
    fc.record({
      kind: fc.constant("append" as const),
      extra: fc.uint8Array({ minLength: 1, maxLength: 1024 }),
    }),
  );
}

export function applyMutation(msg: Uint8Array, m: ByteMutation): Uint8Array {
  switch (m.kind) {
    case "random":
      return fill(m.len, m.seed);
    case "truncate":
      return msg.slice(0, m.at);
    case "bitflip": {
      const out = msg.slice();
      for (const b of m.bits) out[b >> 3] = (out[b >> 3] as number) ^ (1 << (b & 7));
      return out;
    }
    case "append":
      return Buffer.concat([msg, m.extra]);
  }
}

// ---- JSON values ------------------------------------------------------------------------------

const edgeNumber = fc.constantFrom(
  0,
  -1,
  1,
  1.5,
  -0.5,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  2 ** 64,
  -(2 ** 63),
  1e308,
  -1e308,
  5e-324,
);

const edgeString = fc.constantFrom(
  "",
  "0",
  "-1",
  "01",
  "1e3",
  " 1",
  "1 ",
  "0x10",
  "１",
  "9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "18446744073709551615",
  "18446744073709551616",
  "99999999999999999999999",
  "\u0000",
  "\ud800",
  "\udfff\ud800",
  "__proto__",
  "constructor",
  "FLY_X",
  "a".repeat(255),
  "a".repeat(256),
  "../../etc/passwd",
  "'; DROP TABLE secrets; --",
);

/** `depth` levels of arrays or objects; printed short by fast-check (its printer recurses). */
function nest(depth: number, asObject: boolean): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
  Object.defineProperty(v, fc.toStringMethod, { value: () => `nest(${depth}, ${asObject})` });
  return v;
}

export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: edgeNumber },
  { weight: 2, arbitrary: edgeString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1000, max: 60_000 }).map((n) => "x".repeat(n)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => "é".repeat(n)) },
  {
    weight: 1,
    arbitrary: fc
      .record({ d: fc.integer({ min: 100, max: 1500 }), o: fc.boolean() })
      .map(({ d, o }) => nest(d, o)),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 100, max: 10_000 }).map((n) => Array.from({ length: n }, (_, i) => i)),
  },
);

// ---- tokens, tickets, caveats -----------------------------------------------------------------

/** Real material the token generators mutate. */
export interface TokenMaterial {
  /** A valid header for this target (permission + discharges), or "" when none applies. */
  valid: string;
  /** The permission token of `valid` (to attenuate) and its discharges. */
  permission: Macaroon;
  discharges: Macaroon[];
  /** Valid tokens of the wrong kind (other service, other org). */
  foreign: string[];
}

const B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
const b64ish = fc
  .array(fc.constantFrom(...B64_CHARS.split("")), { minLength: 0, maxLength: 600 })
  .map((a) => a.join(""));

function flipBase64(token: string, bits: number[]): string {
  const us = token.indexOf("_");
  let bytes: Uint8Array;
  try {
    bytes = base64Decode(token.slice(us + 1));
  } catch {
    return token;
  }
  for (const b of bits) {
    const i = b % (bytes.length * 8);
    bytes[i >> 3] = (bytes[i >> 3] as number) ^ (1 << (i & 7));
  }
  return `${token.slice(0, us + 1)}${base64Encode(bytes)}`;
}

/** Random caveats that are well-formed for the registry (a legitimate attenuation). */
const validCaveatJson = fc.oneof(
  fc.record({
    type: fc.constant("Organization"),
    body: fc.record({ id: fc.integer({ min: 1, max: 2 ** 40 }), mask: fc.constantFrom("r", "rw", "rwcdC") }),
  }),
  fc.record({
    type: fc.constant("SecretScope"),
    body: fc.record({ org: fc.integer({ min: 0, max: 2 ** 40 }), app: fc.integer({ min: 0, max: 2 ** 40 }) }),
  }),
  fc.record({
    type: fc.constant("ValidityWindow"),
    body: fc.record({
      not_before: fc.integer({ min: 0, max: 2 ** 40 }),
      not_after: fc.integer({ min: 0, max: 2 ** 40 }),
    }),
  }),
  fc.record({ type: fc.constant("SecretOps"), body: fc.integer({ min: 0, max: 31 }) }),
);

function caveatsOf(json: unknown[]): Caveat[] {
  try {
    return caveatSetFromJSON(json, flyRegistry);
  } catch {
    return [];
  }
}

/** An unknown (or known, with a garbage body) caveat type: raw msgpack bytes passed verbatim. */
const garbageCaveat = fc
  .record({
    type: fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.constantFrom(0n, 4n, 11n, 12n, 65536n, 65537n, 1n << 48n, (1n << 64n) - 1n),
    ),
    raw: fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.constant(Uint8Array.of(0xc0))),
  })
  .map(({ type, raw }) => new UnregisteredCaveat(type, raw));

function header(perm: Macaroon, discharges: readonly Macaroon[]): string {
  return encodeAuthorizationHeader([perm, ...discharges]);
}

// Msgpack values of any shape, and tokens that are well-formed msgpack shaped like a macaroon
// (nonce, location, caveat set, tail) with random parts: they get past base64 and framing into
// the nonce, caveat codecs (nested sets, 3P, IfPresent...) and the verifier.
type Mp = null | boolean | bigint | string | Uint8Array | Mp[] | { map: [Mp, Mp][] };

const mpArb: fc.Arbitrary<Mp> = fc.letrec<{ v: Mp }>((tie) => ({
  v: fc.oneof(
    { maxDepth: 4 },
    fc.constant(null),
    fc.boolean(),
    fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }),
    fc.integer({ min: -40, max: 300 }).map(BigInt),
    fc.string({ maxLength: 24 }),
    fc.uint8Array({ maxLength: 48 }),
    fc.array(tie("v"), { maxLength: 4 }),
    fc.array(fc.tuple(tie("v"), tie("v")), { maxLength: 3 }).map((map) => ({ map })),
  ),
})).v;

function writeMp(w: MsgpackWriter, v: Mp): void {
  if (v === null) w.nil();
  else if (typeof v === "boolean") w.bool(v);
  else if (typeof v === "bigint") v >= 0n ? w.uint(v) : w.int(v);
  else if (typeof v === "string") w.str(v);
  else if (v instanceof Uint8Array) w.bin(v);
  else if (Array.isArray(v)) {
    w.array(v.length);
    for (const x of v) writeMp(w, x);
  } else {
    w.map(v.map.length);
    for (const [k, x] of v.map) {
      writeMp(w, k);
      writeMp(w, x);
    }
  }
}

const REGISTERED_TYPES = flyRegistry.codecs().map((c) => c.type);

export function shapedTokenArb(kid: Uint8Array, locations: readonly string[]): fc.Arbitrary<string> {
  const nonce = fc.oneof(
    fc
      .record({
        kid: fc.oneof(fc.constant(kid), fc.uint8Array({ maxLength: 40 })),
        rnd: fc.uint8Array({ maxLength: 40 }),
        proof: fc.oneof(fc.boolean(), fc.constant(undefined)),
      })
      .map(({ kid: k, rnd, proof }): Mp => (proof === undefined ? [k, rnd] : [k, rnd, proof])),
    mpArb,
  );
  const caveat = fc.tuple(
    fc.oneof(fc.constantFrom(...REGISTERED_TYPES), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
    mpArb,
  );
  return fc
    .record({
      nonce,
      location: fc.oneof(fc.constantFrom(...locations), mpArb),
      caveats: fc.oneof(
        fc.array(caveat, { maxLength: 6 }).map((cs): Mp => cs.flat()),
        mpArb,
      ),
      tail: fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), mpArb),
      arity: fc.constantFrom(4, 4, 4, 3, 5),
    })
    .map(({ nonce: n, location, caveats, tail, arity }) => {
      const w = new MsgpackWriter();
      const fields: Mp[] = [n, location, caveats, tail, null].slice(0, arity);
      writeMp(w, fields);
      return `FlyV1 fm2_${base64Encode(w.finish())}`;
    });
}

/**
 * Hostile Authorization headers: random strings, base64 garbage after fm2_, truncated and
 * bit-flipped real tokens, real tokens with garbage / unknown-type / too many caveats, too many
 * discharges, foreign tokens, and (sometimes) the real thing.
 */
export function tokenArb(m: TokenMaterial): fc.Arbitrary<string> {
  const realParts = () => (m.valid === "" ? header(m.permission, m.discharges) : m.valid);
  return fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: "binary", maxLength: 200 }),
    b64ish.map((s) => `FlyV1 fm2_${s}`),
    fc.uint8Array({ maxLength: 600 }).map((b) => `FlyV1 fm2_${base64Encode(b)}`),
    fc.constantFrom("", "FlyV1 ", "FlyV1 fm2_", "FlyV1 fm1_AAAA", "Bearer x", "FlyV1 ,,,,", "fm2_="),
    fc.nat().map((n) => {
      const h = realParts();
      return h.slice(0, n % h.length);
    }),
    fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 6 }).map((bits) => {
      const [scheme, first, ...rest] = realParts().split(/[ ,]/);
      return `${scheme} ${[flipBase64(first as string, bits), ...rest].join(",")}`;
    }),
    fc.array(garbageCaveat, { minLength: 1, maxLength: 4 }).map((cs) => {
      const p = m.permission.clone();
      try {
        p.add(...cs);
      } catch {
        // a caveat the library refuses to add: the unmodified token is still a fine input
      }
      return header(p, m.discharges);
    }),
    fc.array(validCaveatJson, { minLength: 1, maxLength: 5 }).map((json) => {
      const p = m.permission.clone();
      p.add(...caveatsOf(json));
      return header(p, m.discharges);
    }),
    fc.integer({ min: 500, max: 1200 }).map((n) => {
      const p = m.permission.clone();
      const many: Caveat[] = [];
      for (let i = 0; i < n; i++)
        many.push(new UnregisteredCaveat((1n << 48n) + BigInt(i), Uint8Array.of(0xc0)));
      try {
        p.add(...many);
      } catch {
        // refused client side: the plain token goes instead
      }
      return header(p, m.discharges);
    }),
    fc.integer({ min: 15, max: 40 }).map((n) => {
      const d = m.discharges[0] ?? m.permission;
      return header(
        m.permission,
        Array.from({ length: n }, () => d),
      );
    }),
    fc.constantFrom(...m.foreign, realParts()),
    fc.constant(realParts()).map((h) => `${h},${h}`),
    fc.integer({ min: 60_000, max: 64_000 }).map((n) => `FlyV1 fm2_${"A".repeat(n)}`),
    shapedTokenArb(m.permission.nonce.kid, [m.permission.location, ...m.discharges.map((d) => d.location)]),
    shapedTokenArb(m.permission.nonce.kid, [m.permission.location]).map(
      (t) => `${t},${m.discharges.map((d) => d.toString()).join(",")}`,
    ),
  );
}

/** Hostile third-party tickets (base64 in args.ticket). */
export function ticketArb(real: Uint8Array): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 512 }).map(base64Encode),
    b64ish,
    fc.nat().map((n) => base64Encode(real.slice(0, n % real.length))),
    fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 4 }).map((bits) => {
      const b = real.slice();
      for (const x of bits) {
        const i = x % (b.length * 8);
        b[i >> 3] = (b[i >> 3] as number) ^ (1 << (i & 7));
      }
      return base64Encode(b);
    }),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((x) => base64Encode(Buffer.concat([real, x]))),
    fc.constantFrom("", "====", "A".repeat(8193), base64Encode(real)),
    hostileJson,
  );
}

/** Caveat JSON for mint: well-formed, ill-typed, unknown types, 3P, extreme integers, too many. */
export const caveatJsonArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.array(validCaveatJson, { maxLength: 6 }),
  fc.array(
    fc.record({
      type: fc.oneof(
        fc.constantFrom(...flyRegistry.codecs().map((c) => c.name)),
        fc.constantFrom(
          "0",
          "4",
          "11",
          "65537",
          "18446744073709551615",
          "18446744073709551616",
          "-1",
          "",
          "3P",
        ),
        fc.string({ maxLength: 20 }),
      ),
      body: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.record({
          id: edgeNumber,
          mask: fc.string({ maxLength: 8 }),
          org: edgeNumber,
          app: edgeNumber,
          not_before: edgeNumber,
          not_after: edgeNumber,
        }),
      ),
    }),
    { maxLength: 6 },
  ),
  fc
    .integer({ min: 500, max: 2000 })
    .map((n) =>
      Array.from({ length: n }, (_, i) => ({ type: "Organization", body: { id: i + 1, mask: "r" } })),
    ),
  fc.constantFrom(null, {}, "[]", 5, [null], [[]], [{ type: "3P", body: {} }]),
);

// ---- op arguments -----------------------------------------------------------------------------

export interface ArgsMaterial {
  org: string;
  app: string;
  /** for tkdb sign/verify ops */
  userToken: TokenMaterial;
  /** a token the fuzzer may revoke (never the user's own) */
  expendable: string;
  expendablePermission: Macaroon;
  expendableNonce: string;
  ticket: Uint8Array;
  /** for petsem ops */
  petsemToken: TokenMaterial;
}

/**
 * fast-check prints a counterexample with this: long strings (tokens, 60 000-character values)
 * shortened to their length and first characters, so a failure stays readable and does not dump
 * a bearer token of the (throwaway) stack.
 */
function printable<T extends object>(o: T): T {
  Object.defineProperty(o, fc.toStringMethod, {
    value: () =>
      JSON.stringify(o, (_k, v) =>
        typeof v === "string" && v.length > 80 ? `<${v.length} chars: ${v.slice(0, 24)}…>` : v,
      ),
  });
  return o;
}

/** One argument: what a careful client sends, and what a hostile one might. */
interface Field {
  valid: fc.Arbitrary<unknown>;
  hostile: fc.Arbitrary<unknown>;
}
const field = (valid: fc.Arbitrary<unknown>, hostile?: fc.Arbitrary<unknown>): Field => ({
  valid,
  hostile: fc.oneof(
    { weight: 2, arbitrary: hostile ?? hostileJson },
    { weight: 2, arbitrary: hostileJson },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
});

const validName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/).filter((n) => !n.startsWith("FLY_"));
const secretName = fc.oneof(validName, edgeString, fc.string({ maxLength: 40 }));

const hostileValues = fc.oneof(
  fc.dictionary(secretName, fc.oneof(fc.string({ maxLength: 50 }), fc.constant(null)), { maxKeys: 8 }),
  fc.dictionary(secretName, hostileJson, { maxKeys: 4 }),
  fc
    .integer({ min: 490, max: 2000 })
    .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`N${i}`, "v"]))),
  fc.integer({ min: 30_000, max: 60_000 }).map((n) => ({ BIG: "v".repeat(n) })),
  fc.constantFrom({}, { FLY_X: "v" }, { "": "v" }, { A: "\ud800" }, { __proto__: "v" }),
);
const validValues = fc.dictionary(validName, fc.oneof(fc.string({ maxLength: 50 }), fc.constant(null)), {
  minKeys: 1,
  maxKeys: 4,
});

const validVersion = fc.nat({ max: 20 });
const hostileVersion = fc.oneof(edgeNumber, edgeString);

function idField(valid: string): Field {
  return field(
    fc.constantFrom(valid, Number(valid)),
    fc.oneof(edgeString, edgeNumber, fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }).map(String)),
  );
}

/**
 * Arguments for one op. Mostly one field hostile and the others valid (so every check, not just
 * the first, meets hostile input); sometimes every field hostile at once; always a few stray keys.
 * Token fields are hostile either way (a valid token is one of their cases).
 */
export function argsArb(op: string, m: ArgsMaterial): fc.Arbitrary<Record<string, unknown>> {
  const org = idField(m.org);
  const app = idField(m.app);
  const tok = (t: TokenMaterial) => {
    const a = tokenArb(t);
    return field(fc.oneof(fc.constant(t.valid), a), a);
  };
  const names = field(
    fc.array(validName, { minLength: 1, maxLength: 5 }),
    fc.array(secretName, { maxLength: 600 }),
  );
  let known: Record<string, Field>;
  switch (op) {
    case "verify":
    case "strip":
      known = { header: tok(m.userToken) };
      break;
    case "revocations":
      known = {
        cursor: field(fc.nat({ max: 1000 }).map(String), edgeString),
        limit: field(fc.integer({ min: 1, max: 5000 }), edgeNumber),
      };
      break;
    case "discharge":
      known = {
        ticket: field(fc.constant(base64Encode(m.ticket)), ticketArb(m.ticket)),
        header: tok(m.userToken),
        org,
        app,
      };
      break;
    case "org_create":
      known = { org: field(fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }).map(String), org.hostile) };
      break;
    case "mint":
      known = { org, caveats: field(fc.array(validCaveatJson, { maxLength: 3 }), caveatJsonArb) };
      break;
    case "revoke": {
      const expendable: TokenMaterial = {
        valid: m.expendable,
        permission: m.expendablePermission,
        discharges: [],
        foreign: m.userToken.foreign,
      };
      known = {
        nonce: field(
          fc.constant(m.expendableNonce),
          fc.oneof(fc.uint8Array({ maxLength: 300 }).map(base64Encode), b64ish),
        ),
        token: tok(expendable),
      };
      break;
    }
    case "set":
      known = {
        token: tok(m.petsemToken),
        org,
        app,
        values: field(validValues, hostileValues),
        cas: field(
          fc.dictionary(validName, validVersion, { maxKeys: 2 }),
          fc.dictionary(secretName, hostileVersion, { maxKeys: 4 }),
        ),
        expected_app_version: field(validVersion, hostileVersion),
      };
      break;
    case "unset":
      known = {
        token: tok(m.petsemToken),
        org,
        app,
        names,
        expected_app_version: field(validVersion, hostileVersion),
      };
      break;
    case "list":
      known = { token: tok(m.petsemToken), org, app, min_version: field(validVersion, hostileVersion) };
      break;
    case "rollback":
      known = {
        token: tok(m.petsemToken),
        org,
        app,
        name: field(validName, secretName),
        to_version: field(validVersion, hostileVersion),
        cas: field(validVersion, hostileVersion),
      };
      break;
    case "resolve":
      known = {
        token: tok(m.petsemToken),
        org,
        app,
        min_version: field(validVersion, hostileVersion),
        names,
      };
      break;
    default:
      known = {};
  }
  const keys = Object.keys(known);
  const pick = (which: "valid" | "hostile") =>
    fc.record(Object.fromEntries(keys.map((k) => [k, (known[k] as Field)[which]])));
  return fc
    .record({
      mode: fc.nat({ max: 3 }),
      focus: fc.nat(),
      valid: pick("valid"),
      hostile: pick("hostile"),
      extra: fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), edgeString), hostileJson, { maxKeys: 2 }),
    })
    .map(({ mode, focus, valid, hostile, extra }) => {
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(extra)) if (!(key in known)) out[key] = v;
      const f = keys[focus % Math.max(keys.length, 1)];
      for (const k of keys) {
        const v = mode === 0 || k === f ? hostile[k] : valid[k];
        if (v !== undefined) out[k] = v;
      }
      return printable(out);
    });
}

/** Bytes that fast-check prints as their first characters and length (not 60 000 numbers). */
function described(b: Uint8Array): Uint8Array {
  const head = Buffer.from(b.subarray(0, 120)).toString("latin1");
  Object.defineProperty(b, fc.toStringMethod, {
    value: () => `bytes(${b.length}: ${JSON.stringify(head)}…)`,
  });
  return b;
}

/** Malformed request envelopes inside an authenticated message 1 (bytes of the plaintext). */
export function envelopeArb(op: string): fc.Arbitrary<Uint8Array> {
  const ok = { v: 1, op, ts: Date.now(), rid: newRid(), args: {} };
  return fc
    .oneof<fc.Arbitrary<Uint8Array>[]>(
      fc.uint8Array({ maxLength: 512 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => utf8(JSON.stringify(v))),
      fc.string({ maxLength: 200 }).map(utf8),
      fc
        .record({
          v: fc.oneof(fc.constant(1), hostileJson, fc.constant(undefined)),
          op: fc.oneof(fc.constant(op), fc.constantFrom("health", "verify", "set", ""), hostileJson),
          ts: fc.oneof(
            fc.constant("now"),
            fc.constantFrom(0, -1, 2 ** 60, 0.5),
            fc.integer({ min: -7_200_000, max: 7_200_000 }).map((d) => ({ offset: d })),
            hostileJson,
          ),
          rid: fc.oneof(
            fc.constant(ok.rid),
            fc.constant(undefined),
            fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b).toString("base64url")),
            hostileJson,
          ),
          args: fc.oneof(fc.constant({}), hostileJson, fc.constant(undefined)),
          tp: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 80 }), hostileJson),
        })
        .map((r) => {
          // the clock is read when the input is used, so long runs stay inside the replay window
          const ts = r.ts === "now" ? Date.now() : (r.ts as { offset?: number })?.offset;
          return utf8(JSON.stringify({ ...r, ts: typeof ts === "number" ? Date.now() + ts : r.ts }));
        }),
      fc.integer({ min: 0, max: 200 }).map((n) => utf8(JSON.stringify(ok).slice(0, n))),
      // Nesting far deeper than a client's JSON.stringify can produce, written as text: a valid
      // envelope whose argument is 1 000 to 30 000 levels deep.
      fc
        .record({
          field: fc.constantFrom("header", "caveats", "values", "org", "token", "names", "ticket", "args"),
          depth: fc.integer({ min: 1000, max: 30_000 }),
          obj: fc.boolean(),
        })
        .map(({ field, depth: d, obj }) => {
          const depth = obj ? Math.min(d, 10_000) : d;
          const deep = obj
            ? `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`
            : `${"[".repeat(depth)}${"]".repeat(depth)}`;
          const head = JSON.stringify({ ...ok, ts: Date.now(), rid: newRid() }).slice(0, -"{}}".length);
          return utf8(field === "args" ? `${head}${deep}}` : `${head}{"${field}":${deep}}}`);
        }),
    )
    .map(described);
}

/** Op names the API does not have (valid op syntax, so the request authenticates). */
export function unknownOpArb(known: readonly string[]): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/),
      fc.constantFrom("constructor", "proto__x", "toString", "hasOwnProperty", "valueOf", "Verify", "MINT"),
    )
    .filter((op) => !known.includes(op));
}
