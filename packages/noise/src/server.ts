/**
 * HTTP/Noise server side, as a plain fetch-API handler: `(req: Request) => Promise<Response>`.
 * Use it from Hono as `app.post("/noise/v1/verify/:op", (c) => handler(c.req.raw))`.
 *
 * Before message 1 authenticates, every failure is the same bare `400` with an empty body (no
 * oracle). After it authenticates, every outcome is an encrypted `200`.
 */
import { abytes, equalBytes, readBoundedBody, toBase64Url, toHex, utf8 } from "./bytes.js";
import type { BackendName, KeyPair, NoiseCrypto } from "./crypto.js";
import { resolveBackend } from "./crypto.js";
import { NoiseArgumentError, NoiseError } from "./errors.js";
import {
  buildPrologue,
  decodeClientKey,
  encodeFrame,
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
  protocolNameFor,
  type ResponsePayload,
  TRANSPORT_MAX_PAYLOAD,
} from "./framing.js";
import { HandshakeState } from "./handshake-state.js";
import { ReplayCache } from "./replay-cache.js";

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
  /** hex(handshake hash after message 1)[0:16]: non-secret, unique per request, for logs. */
  correlationId: string;
  /** W3C traceparent from the request payload (`tp`), when the client sent a valid one. */
  traceparent?: string;
}

export type NoiseOp = (ctx: NoiseOpContext) => Promise<unknown>;

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
    }
  | { type: "op_error"; op: string; correlationId: string; error: unknown };

export interface NoiseHandlerOptions {
  api: NoiseApi;
  staticKeyPair: KeyPair;
  pattern: NoisePattern;
  /** KK only (required there): the client static public keys allowed to call. */
  allowedClientKeys?: Iterable<Uint8Array> | ((clientKey: Uint8Array) => boolean);
  ops: Record<string, NoiseOp>;
  /** |now − ts| above this is `stale_request`. Default 60 000. */
  replayWindowMs?: number;
  now?: () => number;
  backend?: BackendName | NoiseCrypto;
  /** Largest response plaintext; a larger result becomes `response_too_large`. Default 4 MiB. */
  maxResponseBytes?: number;
  /** Capacity of the seen-ephemeral set; when full of live entries, requests get `unavailable`. */
  replayCacheSize?: number;
  onEvent?: (event: NoiseServerEvent) => void;
}

/** Error codes the handler itself sends (encrypted) after authentication. */
export const SERVER_ERROR_CODES = {
  bad_request: "the request payload is malformed",
  op_mismatch: "op in the payload differs from the path",
  stale_request: "timestamp outside the replay window",
  replay: "this handshake message was already processed",
  unknown_op: "no such operation",
  response_too_large: "the response is too large",
  unavailable: "server is busy; retry",
  internal: "internal error",
} as const;

const MAX_REQUEST = 65535;
const CODE_RE = /^[a-z][a-z0-9_.-]{0,63}$/;

function bare400(): Response {
  return new Response(null, { status: 400 });
}

/** Build the handler once; options are validated here, not per request. */
export function createNoiseHandler(opts: NoiseHandlerOptions): (req: Request) => Promise<Response> {
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

  let isAllowed: (key: Uint8Array) => boolean;
  if (pattern === "KK") {
    const allowed = opts.allowedClientKeys;
    if (typeof allowed === "function") {
      isAllowed = allowed;
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
    ops.set(name, fn);
  }
  const windowMs = opts.replayWindowMs ?? 60_000;
  if (!(windowMs > 0)) throw new NoiseArgumentError("replayWindowMs must be positive");
  const now = opts.now ?? Date.now;
  const maxResponse = opts.maxResponseBytes ?? 4 * 1024 * 1024;
  const seen = new ReplayCache(opts.replayCacheSize ?? 200_000);
  const pathRe = new RegExp(`/noise/v1/${api}/([^/]+)$`);
  const emit = (e: NoiseServerEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // observers must not change the outcome
    }
  };
  const reject = (reason: string): Response => {
    emit({ type: "rejected", reason });
    return bare400();
  };

  /** Encrypt the response plaintext as msg2 + transport frames. */
  function seal(hs: HandshakeState, payload: ResponsePayload): Response {
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
    const frames: Uint8Array[] = [encodeFrame(hs.writeMessage(plain.subarray(0, MSG2_MAX_PAYLOAD)))];
    const { send } = hs.split();
    for (let off = MSG2_MAX_PAYLOAD; off < plain.length; off += TRANSPORT_MAX_PAYLOAD) {
      frames.push(
        encodeFrame(send.encryptWithAd(new Uint8Array(0), plain.subarray(off, off + TRANSPORT_MAX_PAYLOAD))),
      );
    }
    const body = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let o = 0;
    for (const f of frames) {
      body.set(f, o);
      o += f.length;
    }
    return new Response(body, {
      status: 200,
      headers: { "Content-Type": NOISE_CONTENT_TYPE, "Cache-Control": "no-store" },
    });
  }

  return async function noiseHandler(req: Request): Promise<Response> {
    // ---- before authentication: one bare 400 for everything ----
    let hs: HandshakeState;
    let msg1: Uint8Array;
    let clientKey: Uint8Array;
    let request: ReturnType<typeof parseRequestPayload>;
    let pathOp: string;
    try {
      if (req.method !== "POST") return reject("method");
      const ct = (req.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
      if (ct !== NOISE_CONTENT_TYPE) return reject("content_type");
      const m = pathRe.exec(new URL(req.url).pathname);
      if (m === null || !isValidOp(m[1])) return reject("path");
      pathOp = m[1];
      if (req.headers.get(NOISE_SERVER_KEY_HEADER) !== kid) return reject("server_key");
      const clientHeader = req.headers.get(NOISE_CLIENT_KEY_HEADER) ?? "";
      let rs: Uint8Array | undefined;
      if (pattern === "KK") {
        const k = decodeClientKey(clientHeader);
        if (k === null || !isAllowed(k)) return reject("client_key");
        rs = k;
      } else if (clientHeader !== "") {
        return reject("client_key");
      }
      const body = await readBoundedBody(req, MAX_REQUEST);
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
        request = parseRequestPayload(hs.readMessage(msg1));
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
    const respond = (
      rid: string,
      result: { ok: true; value: unknown } | { ok: false; code: string; message: string },
      tp?: string,
    ) => {
      emit({
        type: "response",
        op: pathOp,
        ok: result.ok,
        ...(result.ok ? {} : { code: result.code }),
        clientKey: clientKeyBase64Url,
        correlationId,
        rid,
        ...(tp === undefined ? {} : { traceparent: tp }),
      });
      const payload: ResponsePayload = result.ok
        ? { v: 1, rid, ok: true, result: result.value === undefined ? null : result.value }
        : { v: 1, rid, ok: false, error: { code: result.code, message: result.message } };
      return seal(hs, payload);
    };
    const fail = (rid: string, code: keyof typeof SERVER_ERROR_CODES, tp?: string) =>
      respond(rid, { ok: false, ...errorBody(code) }, tp);

    try {
      if (typeof request === "string") return fail("", "bad_request");
      const tp = request.tp;
      const t = now();
      const verdict = seen.checkAndAdd(toHex(msg1.subarray(0, 32)), t, t + 2 * windowMs);
      if (verdict === "replay") return fail(request.rid, "replay", tp);
      if (verdict === "full") return fail(request.rid, "unavailable", tp);
      if (request.op !== pathOp) return fail(request.rid, "op_mismatch", tp);
      if (Math.abs(t - request.ts) > windowMs) return fail(request.rid, "stale_request", tp);
      const op = ops.get(pathOp);
      if (op === undefined) return fail(request.rid, "unknown_op", tp);
      const ctx: NoiseOpContext = {
        api,
        op: pathOp,
        args: request.args,
        rid: request.rid,
        ts: request.ts,
        clientKey: Uint8Array.from(clientKey),
        clientKeyBase64Url,
        correlationId,
      };
      if (tp !== undefined) ctx.traceparent = tp;
      let value: unknown;
      try {
        value = await op(ctx);
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        if (typeof code === "string" && CODE_RE.test(code)) {
          const message = (err as { message?: unknown }).message;
          return respond(
            request.rid,
            { ok: false, code, message: typeof message === "string" ? message : code },
            tp,
          );
        }
        emit({ type: "op_error", op: pathOp, correlationId, error: err });
        return fail(request.rid, "internal", tp);
      }
      return respond(request.rid, { ok: true, value }, tp);
    } catch (err) {
      // Only reachable if sealing itself failed; the handshake state may be spent, so no
      // encrypted answer is possible.
      emit({ type: "op_error", op: pathOp, correlationId, error: err });
      return bare400();
    }
  };
}

function errorBody(code: keyof typeof SERVER_ERROR_CODES): { code: string; message: string } {
  return { code, message: SERVER_ERROR_CODES[code] };
}
