/**
 * HTTP/Noise server side, as a plain fetch-API handler:
 * `(req: Request, info?: { remoteAddress }) => Promise<Response>`. From Hono on @hono/node-server:
 * `app.post("/noise/v1/verify/:op", (c) => handler(c.req.raw, { remoteAddress: c.env.incoming.socket.remoteAddress }))`.
 * The same handler also answers node:http directly (`handler.node(req, res)`, or
 * `nodeNoiseListener` in front of another listener), without building a fetch Request and
 * Response per call: on a loopback verify that was a quarter of the server's time (node-http.ts).
 *
 * Two modes on the same route (README "HTTP/Noise framing" and "Session mode"):
 * - per request: the request rides in handshake message 1, the answer in message 2;
 * - session: `POST …/session` opens a session with a handshake that carries no arguments; later
 *   requests (header `Noise-Session`) are transport messages, forward secret.
 *
 * Before a message authenticates, every failure is the same bare `400` with an empty body (no
 * oracle), except an unknown or expired session, which is a bare `410` (re-handshake). After it
 * authenticates, every outcome is an encrypted `200`.
 */

import { addressBucket } from "./address.js";
import { abytes, concatBytes, equalBytes, readBoundedBody, toBase64Url, toHex, utf8 } from "./bytes.js";
import type { CipherState } from "./cipher-state.js";
import type { BackendName, KeyPair, NoiseCrypto } from "./crypto.js";
import { resolveBackend } from "./crypto.js";
import { NoiseArgumentError, NoiseError } from "./errors.js";
import {
  buildPrologue,
  decodeClientKey,
  type ErrorBody,
  encodeFrame,
  errorExtras,
  isNoiseApi,
  isValidOp,
  keyId,
  MSG2_MAX_PAYLOAD,
  NOISE_CLIENT_KEY_HEADER,
  NOISE_CONTENT_TYPE,
  NOISE_SERVER_KEY_HEADER,
  type NoiseApi,
  type NoisePattern,
  parseRequestPayload,
  parseSessionOpenPayload,
  protocolNameFor,
  type RequestPayload,
  type ResponsePayload,
  TRANSPORT_MAX_PAYLOAD,
} from "./framing.js";
import { HandshakeState } from "./handshake-state.js";
import { type NodeRequestLike, type NodeResponseLike, readNodeBody, writeNodeResponse } from "./node-http.js";
import { ReplayCache } from "./replay-cache.js";
import {
  decodeCounter,
  encodeCounter,
  isValidSessionId,
  NOISE_SESSION_HEADER,
  responseNonce,
  SESSION_COUNTER_LIMIT,
  SESSION_GONE_STATUS,
  SESSION_MAX_FRAMES,
  SESSION_OP,
  sessionAd,
} from "./session.js";
import { type ServerSession, type SessionLimits, SessionTable } from "./session-table.js";

/** What an op handler receives. Everything here has been authenticated by the handshake. */
export interface NoiseOpContext {
  api: NoiseApi;
  op: string;
  args: Record<string, unknown>;
  /**
   * Request id chosen by the client (16 bytes, base64url). A retry of the same logical request
   * reuses it. Mutating ops record `(clientKeyBase64Url, rid)` with a UNIQUE constraint in the
   * same DB transaction as the change and return the stored result for a duplicate.
   */
  rid: string;
  /** Client timestamp (unix ms), already checked against the replay window. */
  ts: number;
  /** The client's static public key, proven by the handshake. */
  clientKey: Uint8Array;
  /** Same key, base64url (the Noise-Client-Key encoding): a convenient DB/log key. */
  clientKeyBase64Url: string;
  /**
   * Non-secret, unique per request, for logs. Per request: hex(handshake hash after message 1)[0:16].
   * In a session: `<hex(handshake hash)[0:16]>.<message counter>`.
   */
  correlationId: string;
  /** W3C traceparent from the request payload (`tp`), when the client sent a valid one. */
  traceparent?: string;
  /** True when the request came as a session transport message (forward secret). */
  forwardSecret: boolean;
  /** The address bucket the request came from (`addressBucket`), for rate limits and logs. */
  source: string;
}

export type NoiseOp = (ctx: NoiseOpContext) => Promise<unknown>;

/** What the embedding HTTP server knows about the connection (never a client-supplied header). */
export interface NoiseRequestInfo {
  remoteAddress?: string | undefined;
}

/** Server-side observations, for logs and metrics. Never contains key material or payloads. */
export type NoiseServerEvent =
  | { type: "rejected"; reason: string }
  | {
      type: "response";
      op: string;
      ok: boolean;
      code?: string;
      clientKey: string;
      correlationId: string;
      rid: string;
      traceparent?: string;
      mode: "request" | "session";
      /** From the request reaching the handler to its answer being sealed, ms. */
      durationMs: number;
    }
  | { type: "op_error"; op: string; correlationId: string; error: unknown };

export interface NoiseHandlerOptions {
  api: NoiseApi;
  staticKeyPair: KeyPair;
  pattern: NoisePattern;
  /**
   * KK only (required there): the client static public keys allowed to call. A function is asked
   * `(key, op)` before any DH for a per-request call, `(key, undefined)` ("may this key call at all")
   * before a session opens, and `(key, op)` again for every op inside a session (an op it refuses
   * there is an encrypted `forbidden`).
   */
  allowedClientKeys?: Iterable<Uint8Array> | ((clientKey: Uint8Array, op?: string) => boolean);
  ops: Record<string, NoiseOp>;
  /**
   * Ops refused in message 1 (`forward_secrecy_required`): they carry secret values or
   * authentication material and must come through a session. "all" = every op. Default none.
   */
  forwardSecretOps?: readonly string[] | "all";
  /**
   * The allow-list form, preferred: the only ops accepted in message 1; every other op (including
   * one added later) is `forward_secrecy_required` there. Give this or `forwardSecretOps`, not both.
   */
  messageOneOps?: readonly string[];
  /** |now − ts| above this is `stale_request`. Default 60 000. */
  replayWindowMs?: number;
  now?: () => number;
  backend?: BackendName | NoiseCrypto;
  /** Largest response plaintext; a larger result becomes `response_too_large`. Default 4 MiB. */
  maxResponseBytes?: number;
  /** Capacity of the seen-ephemeral set; when full of live entries, requests get `unavailable`. */
  replayCacheSize?: number;
  /** Live seen-ephemeral entries one address bucket may hold (default 4096); beyond: `unavailable`. */
  replayCachePerSource?: number;
  /** Session table bounds (defaults in DEFAULT_SESSION_LIMITS). */
  sessions?: Partial<SessionLimits>;
  onEvent?: (event: NoiseServerEvent) => void;
}

export type NoiseHandler = ((req: Request, info?: NoiseRequestInfo) => Promise<Response>) & {
  /** The api this handler serves (its routes are `/noise/v1/<api>/<op>`). */
  readonly api: NoiseApi;
  /**
   * The same handler on node:http's request and response (no fetch Request or Response is built).
   * The remote address is the socket's. Resolves once the answer is written.
   */
  node(req: NodeRequestLike, res: NodeResponseLike): Promise<void>;
  /** Close every session and wipe its keys (server shutdown). */
  closeSessions(): void;
  /** Open sessions, for metrics and tests. */
  readonly sessionCount: number;
  /** Sessions opened since start, for metrics and tests. */
  readonly sessionsOpened: number;
};

/** Error codes the handler itself sends (encrypted) after authentication. */
export const SERVER_ERROR_CODES = {
  bad_request: "the request payload is malformed",
  op_mismatch: "op in the payload differs from the path",
  stale_request: "timestamp outside the replay window",
  replay: "this handshake message was already processed",
  unknown_op: "no such operation",
  forward_secrecy_required: "this operation must be sent inside a session, not in handshake message 1",
  forbidden: "this client key may not call this operation",
  response_too_large: "the response is too large",
  unavailable: "server is busy; retry",
  internal: "internal error",
} as const;

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxSessions: 20_000,
  maxPerSource: 512,
  idleTtlMs: 120_000,
  maxLifetimeMs: 600_000,
  maxMessages: 100_000,
};

const MAX_REQUEST = 65535;
/** A session message: the 8-byte counter, then one Noise transport message. */
const MAX_SESSION_REQUEST = 8 + 65535;
const CODE_RE = /^[a-z][a-z0-9_.-]{0,63}$/;

/**
 * A request as the handler reads it, whatever carried it (a fetch Request or node:http's
 * IncomingMessage): nothing here is trusted before the Noise message authenticates.
 */
interface WireRequest {
  /** performance.now() when the handler got the request. */
  start: number;
  method: string;
  /** The URL's path, without the query. */
  pathname: string;
  /** A header by lowercase name, or null. */
  header(name: string): string | null;
  /** The body, or null when it is over `max` bytes. */
  body(max: number): Promise<Uint8Array | null>;
}

/** What the handler answers: a bare status, or an encrypted 200. */
type WireResponse = { status: 400 | 410; body: null } | { status: 200; body: Uint8Array };

function bare(status: 400 | 410): WireResponse {
  return { status, body: null };
}

function fromFetch(req: Request): WireRequest {
  return {
    start: performance.now(),
    method: req.method,
    pathname: new URL(req.url).pathname,
    header: (name) => req.headers.get(name),
    body: (max) => readBoundedBody(req, max),
  };
}

function toFetch(r: WireResponse): Response {
  return r.body === null
    ? new Response(null, { status: r.status })
    : new Response(r.body, {
        status: 200,
        headers: { "Content-Type": NOISE_CONTENT_TYPE, "Cache-Control": "no-store" },
      });
}

function fromNode(req: NodeRequestLike): WireRequest {
  const url = req.url ?? "";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  return {
    start: performance.now(),
    method: req.method ?? "",
    // origin-form (the usual); an absolute-form target (through some proxies) is parsed
    pathname: path.startsWith("/") ? path : new URL(url).pathname,
    header: (name) => {
      const v = req.headers[name];
      return typeof v === "string" ? v : Array.isArray(v) ? v.join(", ") : null;
    },
    body: (max) => readNodeBody(req, max),
  };
}

function positive(v: number, name: string): number {
  if (!(Number.isSafeInteger(v) && v > 0)) throw new NoiseArgumentError(`${name} must be a positive integer`);
  return v;
}

function concatFrames(frames: Uint8Array[]): Uint8Array {
  const body = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let o = 0;
  for (const f of frames) {
    body.set(f, o);
    o += f.length;
  }
  return body;
}

function noiseResponse(body: Uint8Array): WireResponse {
  return { status: 200, body };
}

/** Build the handler once; options are validated here, not per request. */
export function createNoiseHandler(opts: NoiseHandlerOptions): NoiseHandler {
  const backend = resolveBackend(opts.backend);
  if (!isNoiseApi(opts.api)) throw new NoiseArgumentError("api must be verify, sign or secrets");
  const api = opts.api;
  const pattern = opts.pattern;
  const protocolName = protocolNameFor(pattern);
  const { publicKey, secretKey } = opts.staticKeyPair ?? ({} as KeyPair);
  abytes(publicKey, 32, "staticKeyPair.publicKey");
  abytes(secretKey, 32, "staticKeyPair.secretKey");
  if (!equalBytes(backend.publicKeyOf(secretKey), publicKey)) {
    throw new NoiseArgumentError("staticKeyPair.publicKey does not match its secret key");
  }
  const staticKeyPair: KeyPair = {
    publicKey: Uint8Array.from(publicKey),
    secretKey: Uint8Array.from(secretKey),
  };
  const kid = keyId(publicKey, backend);

  let isAllowed: (key: Uint8Array, op?: string) => boolean;
  if (pattern === "KK") {
    const allowed = opts.allowedClientKeys;
    if (typeof allowed === "function") {
      isAllowed = (key, op) => {
        try {
          return allowed(key, op) === true;
        } catch {
          return false;
        }
      };
    } else if (allowed !== undefined) {
      const keys = [...allowed].map((k, i) => Uint8Array.from(abytes(k, 32, `allowedClientKeys[${i}]`)));
      isAllowed = (key) => keys.some((k) => equalBytes(k, key));
    } else {
      throw new NoiseArgumentError("KK needs allowedClientKeys");
    }
  } else {
    if (opts.allowedClientKeys !== undefined)
      throw new NoiseArgumentError("allowedClientKeys is for KK only");
    isAllowed = () => true;
  }

  const ops = new Map<string, NoiseOp>();
  for (const [name, fn] of Object.entries(opts.ops ?? {})) {
    if (!isValidOp(name) || typeof fn !== "function") throw new NoiseArgumentError(`invalid op ${name}`);
    if (name === SESSION_OP) throw new NoiseArgumentError(`op name "${SESSION_OP}" is reserved`);
    ops.set(name, fn);
  }
  const fsOps = opts.forwardSecretOps ?? [];
  if (fsOps !== "all" && !(Array.isArray(fsOps) && fsOps.every(isValidOp)))
    throw new NoiseArgumentError('forwardSecretOps must be "all" or a list of op names');
  const m1Ops = opts.messageOneOps;
  if (m1Ops !== undefined && !(Array.isArray(m1Ops) && m1Ops.every(isValidOp)))
    throw new NoiseArgumentError("messageOneOps must be a list of op names");
  if (m1Ops !== undefined && opts.forwardSecretOps !== undefined)
    throw new NoiseArgumentError("give messageOneOps or forwardSecretOps, not both");
  const needsForwardSecrecy = (op: string) =>
    m1Ops !== undefined ? !m1Ops.includes(op) : fsOps === "all" || fsOps.includes(op);
  const windowMs = opts.replayWindowMs ?? 60_000;
  if (!(windowMs > 0)) throw new NoiseArgumentError("replayWindowMs must be positive");
  const now = opts.now ?? Date.now;
  const maxResponse = opts.maxResponseBytes ?? 4 * 1024 * 1024;
  const cacheSize = positive(opts.replayCacheSize ?? 200_000, "replayCacheSize");
  const seen = new ReplayCache(
    cacheSize,
    positive(opts.replayCachePerSource ?? 4096, "replayCachePerSource"),
  );
  const limits: SessionLimits = { ...DEFAULT_SESSION_LIMITS, ...opts.sessions };
  for (const [k, v] of Object.entries(limits)) positive(v, `sessions.${k}`);
  const sessions = new SessionTable(limits);
  let opened = 0;
  const pathRe = new RegExp(`/noise/v1/${api}/([^/]+)$`);
  // node:http gives header names in lower case; fetch Headers do not care.
  const serverKeyHeader = NOISE_SERVER_KEY_HEADER.toLowerCase();
  const clientKeyHeader = NOISE_CLIENT_KEY_HEADER.toLowerCase();
  const sessionHeader = NOISE_SESSION_HEADER.toLowerCase();
  const emit = (e: NoiseServerEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // observers must not change the outcome
    }
  };
  const reject = (reason: string, status: 400 | 410 = 400): WireResponse => {
    emit({ type: "rejected", reason });
    return bare(status);
  };

  /** The response plaintext, bounded by maxResponseBytes. */
  function responseBytes(payload: ResponsePayload): Uint8Array {
    let json: string;
    try {
      json = JSON.stringify(payload);
    } catch {
      json = JSON.stringify({ v: 1, rid: payload.rid, ok: false, error: errorBody("internal") });
    }
    let plain = utf8(json);
    if (plain.length > maxResponse) {
      plain = utf8(
        JSON.stringify({ v: 1, rid: payload.rid, ok: false, error: errorBody("response_too_large") }),
      );
    }
    return plain;
  }

  /** Per request: encrypt the response plaintext as msg2 + transport frames. */
  function sealHandshake(hs: HandshakeState, payload: ResponsePayload): WireResponse {
    const plain = responseBytes(payload);
    const frames: Uint8Array[] = [encodeFrame(hs.writeMessage(plain.subarray(0, MSG2_MAX_PAYLOAD)))];
    const { send, receive } = hs.split();
    receive.destroy();
    for (let off = MSG2_MAX_PAYLOAD; off < plain.length; off += TRANSPORT_MAX_PAYLOAD) {
      frames.push(
        encodeFrame(send.encryptWithAd(new Uint8Array(0), plain.subarray(off, off + TRANSPORT_MAX_PAYLOAD))),
      );
    }
    send.destroy();
    return noiseResponse(concatFrames(frames));
  }

  /** Session: frame i of the answer to request n is sealed under nonce n·2^16 + i (explicit). */
  function sealSession(send: CipherState, n: bigint, ad: Uint8Array, payload: ResponsePayload): WireResponse {
    const plain = responseBytes(payload);
    const frames: Uint8Array[] = [];
    let i = 0;
    let off = 0;
    do {
      if (i >= SESSION_MAX_FRAMES) throw new NoiseArgumentError("response has too many frames");
      send.setNonce(responseNonce(n, i));
      frames.push(encodeFrame(send.encryptWithAd(ad, plain.subarray(off, off + TRANSPORT_MAX_PAYLOAD))));
      off += TRANSPORT_MAX_PAYLOAD;
      i += 1;
    } while (off < plain.length);
    return noiseResponse(concatFrames(frames));
  }

  type Outcome = { ok: true; value: unknown } | ({ ok: false } & ErrorBody);
  const failure = (code: keyof typeof SERVER_ERROR_CODES): Outcome => ({ ok: false, ...errorBody(code) });

  /** Run an op; expected refusals (errors with a lowercase `code`) pass through, others are `internal`. */
  async function runOp(op: NoiseOp, ctx: NoiseOpContext): Promise<Outcome> {
    try {
      return { ok: true, value: await op(ctx) };
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (typeof code === "string" && CODE_RE.test(code)) {
        const message = (err as { message?: unknown }).message;
        // `alias` and `details` pass on (checked for shape): the service chose them for the client.
        return {
          ok: false,
          code,
          message: typeof message === "string" ? message : code,
          ...errorExtras(err),
        };
      }
      emit({ type: "op_error", op: ctx.op, correlationId: ctx.correlationId, error: err });
      return failure("internal");
    }
  }

  function toPayload(rid: string, result: Outcome): ResponsePayload {
    return result.ok
      ? { v: 1, rid, ok: true, result: result.value === undefined ? null : result.value }
      : {
          v: 1,
          rid,
          ok: false,
          error: { code: result.code, message: result.message, ...errorExtras(result) },
        };
  }

  function report(
    mode: "request" | "session",
    op: string,
    result: Outcome,
    who: { clientKey: string; correlationId: string; rid: string; tp?: string | undefined },
    start: number,
  ): void {
    emit({
      type: "response",
      op,
      ok: result.ok,
      ...(result.ok ? {} : { code: result.code }),
      clientKey: who.clientKey,
      correlationId: who.correlationId,
      rid: who.rid,
      ...(who.tp === undefined ? {} : { traceparent: who.tp }),
      mode,
      durationMs: performance.now() - start,
    });
  }

  /** Pre-authentication checks common to both modes; the path op, or a Response to send. */
  function routeOf(req: WireRequest): string | WireResponse {
    if (req.method !== "POST") return reject("method");
    const ct = (req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
    if (ct !== NOISE_CONTENT_TYPE) return reject("content_type");
    const m = pathRe.exec(req.pathname);
    if (m === null || !isValidOp(m[1])) return reject("path");
    if (req.header(serverKeyHeader) !== kid) return reject("server_key");
    return m[1];
  }

  // ---- per request (and session open): the request rides in message 1 ----
  async function handshakeRequest(req: WireRequest, pathOp: string, source: string): Promise<WireResponse> {
    let hs: HandshakeState;
    let msg1: Uint8Array;
    let clientKey: Uint8Array;
    let plain: Uint8Array;
    try {
      const clientHeader = req.header(clientKeyHeader) ?? "";
      let rs: Uint8Array | undefined;
      if (pattern === "KK") {
        const k = decodeClientKey(clientHeader);
        if (k === null || !isAllowed(k, pathOp === SESSION_OP ? undefined : pathOp))
          return reject("client_key");
        rs = k;
      } else if (clientHeader !== "") {
        return reject("client_key");
      }
      const body = await req.body(MAX_REQUEST);
      if (body === null) return reject("size");
      msg1 = body;
      hs = new HandshakeState({
        protocolName,
        initiator: false,
        prologue: buildPrologue(`/noise/v1/${api}/${pathOp}`, kid, clientHeader),
        staticKeyPair,
        remoteStaticKey: rs,
        backend,
      });
      try {
        plain = hs.readMessage(msg1);
      } catch (err) {
        return reject(err instanceof NoiseError ? `handshake:${err.code}` : "handshake");
      }
      clientKey = hs.getRemoteStaticKey() as Uint8Array;
    } catch {
      return reject("internal");
    }

    // ---- authenticated: every outcome is an encrypted 200 ----
    const correlationId = toHex(hs.getHandshakeHash()).slice(0, 16);
    const clientKeyBase64Url = toBase64Url(clientKey);
    const answer = (rid: string, result: Outcome, tp?: string): WireResponse => {
      report("request", pathOp, result, { clientKey: clientKeyBase64Url, correlationId, rid, tp }, req.start);
      return sealHandshake(hs, toPayload(rid, result));
    };
    try {
      const t = now();
      if (pathOp === SESSION_OP) return openSession(hs, plain, msg1, source, t, correlationId, req.start);
      const request = parseRequestPayload(plain);
      if (typeof request === "string") return answer("", failure("bad_request"));
      const tp = request.tp;
      // Cheap checks first: a message refused here never takes space in the seen set.
      if (request.op !== pathOp) return answer(request.rid, failure("op_mismatch"), tp);
      if (Math.abs(t - request.ts) > windowMs) return answer(request.rid, failure("stale_request"), tp);
      const op = ops.get(pathOp);
      if (op === undefined) return answer(request.rid, failure("unknown_op"), tp);
      if (needsForwardSecrecy(pathOp)) return answer(request.rid, failure("forward_secrecy_required"), tp);
      const verdict = seen.checkAndAdd(toHex(msg1.subarray(0, 32)), t, t + 2 * windowMs, source);
      if (verdict === "replay") return answer(request.rid, failure("replay"), tp);
      if (verdict === "full") return answer(request.rid, failure("unavailable"), tp);
      const ctx = context(request, clientKey, clientKeyBase64Url, correlationId, false, source);
      return answer(request.rid, await runOp(op, ctx), tp);
    } catch (err) {
      // Only reachable if sealing itself failed; the handshake state may be spent, so no
      // encrypted answer is possible.
      emit({ type: "op_error", op: pathOp, correlationId, error: err });
      return bare(400);
    }
  }

  function context(
    request: RequestPayload,
    clientKey: Uint8Array,
    clientKeyBase64Url: string,
    correlationId: string,
    forwardSecret: boolean,
    source: string,
  ): NoiseOpContext {
    const ctx: NoiseOpContext = {
      api,
      op: request.op,
      args: request.args,
      rid: request.rid,
      ts: request.ts,
      clientKey: Uint8Array.from(clientKey),
      clientKeyBase64Url,
      correlationId,
      forwardSecret,
      source,
    };
    if (request.tp !== undefined) ctx.traceparent = request.tp;
    return ctx;
  }

  /** Message 1 on `…/session` authenticated: check it, then answer message 2 with a new session id. */
  function openSession(
    hs: HandshakeState,
    plain: Uint8Array,
    msg1: Uint8Array,
    source: string,
    t: number,
    correlationId: string,
    start: number,
  ): WireResponse {
    const clientKey = hs.getRemoteStaticKey() as Uint8Array;
    const clientKeyBase64Url = toBase64Url(clientKey);
    const request = parseSessionOpenPayload(plain);
    const rid = typeof request === "string" ? "" : request.rid;
    const tp = typeof request === "string" ? undefined : request.tp;
    const answer = (result: Outcome): WireResponse => {
      report("request", SESSION_OP, result, { clientKey: clientKeyBase64Url, correlationId, rid, tp }, start);
      return sealHandshake(hs, toPayload(rid, result));
    };
    if (typeof request === "string") return answer(failure("bad_request"));
    if (Math.abs(t - request.ts) > windowMs) return answer(failure("stale_request"));
    const verdict = seen.checkAndAdd(toHex(msg1.subarray(0, 32)), t, t + 2 * windowMs, source);
    if (verdict === "replay") return answer(failure("replay"));
    if (verdict === "full") return answer(failure("unavailable"));
    const id = toBase64Url(backend.randomBytes(16));
    const result = {
      session: id,
      idle_ttl_ms: limits.idleTtlMs,
      lifetime_ms: limits.maxLifetimeMs,
      max_messages: limits.maxMessages,
    };
    // A successful open is not an RPC: no "response" event (refused opens are reported above).
    opened += 1;
    const msg2 = hs.writeMessage(utf8(JSON.stringify({ v: 1, rid, ok: true, result })));
    const { send, receive } = hs.split();
    sessions.add(
      {
        id,
        send,
        receive,
        clientKey,
        clientKeyBase64Url,
        source,
        handshakeHash: hs.getHandshakeHash(),
        createdAt: t,
      },
      t,
    );
    return noiseResponse(encodeFrame(msg2));
  }

  /**
   * The AD of a session message on `pathOp`: cached on the session for the handler's own ops (a
   * bounded set), built afresh for any other name (never cached: the path is not yet authenticated).
   */
  function adOf(s: ServerSession, pathOp: string): Uint8Array {
    const hit = s.ads.get(pathOp);
    if (hit !== undefined) return hit;
    const ad = sessionAd(`/noise/v1/${api}/${pathOp}`, kid, s.id);
    if (ops.has(pathOp)) s.ads.set(pathOp, ad);
    return ad;
  }

  // ---- session: the request is a transport message ----
  async function sessionRequest(
    req: WireRequest,
    pathOp: string,
    sid: string,
    source: string,
  ): Promise<WireResponse> {
    let session: ServerSession;
    let n: bigint;
    let ad: Uint8Array;
    let plain: Uint8Array;
    try {
      if (!isValidSessionId(sid)) return reject("session_id");
      if (req.header(clientKeyHeader) !== null) return reject("client_key");
      if (pathOp === SESSION_OP) return reject("path");
      const body = await req.body(MAX_SESSION_REQUEST);
      if (body === null) return reject("size");
      if (body.length < 8 + 16) return reject("session_short");
      n = decodeCounter(body);
      const t = now();
      const s = sessions.get(sid, t);
      // Unknown, expired, or a counter the session will never accept: re-handshake. Nothing
      // unauthenticated ever closes a session.
      if (s === undefined || n >= BigInt(limits.maxMessages) || n >= SESSION_COUNTER_LIMIT)
        return reject("session_gone", SESSION_GONE_STATUS);
      const w = s.window.check(n);
      if (w !== "ok") return reject(`session_${w}`);
      ad = adOf(s, pathOp);
      // setNonce and decrypt in one synchronous step: concurrent requests cannot interleave.
      try {
        s.receive.setNonce(n);
        plain = s.receive.decryptWithAd(ad, body.subarray(8));
      } catch {
        return reject("session_decrypt");
      }
      s.window.commit(n);
      s.messages += 1;
      s.inflight += 1;
      sessions.touch(s, t);
      session = s;
    } catch {
      return reject("internal");
    }

    // ---- authenticated: every outcome is an encrypted 200 ----
    const correlationId = toHex(
      backend.hash("BLAKE2s", concatBytes(session.handshakeHash, encodeCounter(n))),
    ).slice(0, 16);
    const who = {
      clientKey: session.clientKeyBase64Url,
      correlationId,
      rid: "",
      tp: undefined as string | undefined,
    };
    const answer = (result: Outcome): WireResponse => {
      report("session", pathOp, result, who, req.start);
      return sealSession(session.send, n, ad, toPayload(who.rid, result));
    };
    let end = false;
    try {
      const request = parseRequestPayload(plain);
      if (typeof request === "string") return answer(failure("bad_request"));
      end = request.end === true;
      who.rid = request.rid;
      who.tp = request.tp;
      const t = now();
      if (request.op !== pathOp) return answer(failure("op_mismatch"));
      if (Math.abs(t - request.ts) > windowMs) return answer(failure("stale_request"));
      const op = ops.get(pathOp);
      if (op === undefined) return answer(failure("unknown_op"));
      if (pattern === "KK" && !isAllowed(session.clientKey, pathOp)) return answer(failure("forbidden"));
      const ctx = context(
        request,
        session.clientKey,
        session.clientKeyBase64Url,
        correlationId,
        true,
        source,
      );
      const result = await runOp(op, ctx);
      if (session.send.hasKey()) return answer(result);
      throw new NoiseError("invalid_state", "session closed while the op ran");
    } catch (err) {
      emit({ type: "op_error", op: pathOp, correlationId, error: err });
      return bare(400);
    } finally {
      // The client's last message (a one-shot session): the answer is sealed, drop the session now.
      if (end) sessions.close(session);
      sessions.release(session);
    }
  }

  async function handle(req: WireRequest, remoteAddress: string | undefined): Promise<WireResponse> {
    const source = addressBucket(remoteAddress);
    let route: string | WireResponse;
    try {
      route = routeOf(req);
    } catch {
      return reject("internal");
    }
    if (typeof route !== "string") return route;
    const sid = req.header(sessionHeader);
    if (sid !== null) return sessionRequest(req, route, sid, source);
    return handshakeRequest(req, route, source);
  }

  const handler = async function noiseHandler(req: Request, info?: NoiseRequestInfo): Promise<Response> {
    return toFetch(await handle(fromFetch(req), info?.remoteAddress));
  } as NoiseHandler;
  Object.defineProperty(handler, "api", { value: api });
  Object.defineProperty(handler, "node", {
    value: async (req: NodeRequestLike, res: NodeResponseLike): Promise<void> =>
      writeNodeResponse(res, await handle(fromNode(req), req.socket?.remoteAddress)),
  });
  Object.defineProperty(handler, "closeSessions", { value: () => sessions.clear() });
  Object.defineProperty(handler, "sessionCount", { get: () => sessions.size });
  Object.defineProperty(handler, "sessionsOpened", { get: () => opened });
  return handler;
}

function errorBody(code: keyof typeof SERVER_ERROR_CODES): { code: string; message: string } {
  return { code, message: SERVER_ERROR_CODES[code] };
}
