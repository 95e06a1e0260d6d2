/**
 * HTTP/Noise client. `noiseCall` uses session mode by default (session-client.ts); the per-request
 * mode below puts the request in handshake message 1 and the response in message 2 plus transport
 * messages. Nothing from the server is acted on unless it
 * decrypts and authenticates: every other outcome is a NoiseTransportError.
 */
import { EMPTY, toHex, utf8 } from "./bytes.js";
import type { BackendName, KeyPair, NoiseCrypto } from "./crypto.js";
import { resolveBackend } from "./crypto.js";
import { NoiseArgumentError, NoiseRemoteError, NoiseStateError, NoiseTransportError } from "./errors.js";
import {
  buildPrologue,
  decodeFrames,
  encodeClientKey,
  isValidRid,
  isValidTraceparent,
  keyId,
  NOISE_CLIENT_KEY_HEADER,
  NOISE_CONTENT_TYPE,
  NOISE_SERVER_KEY_HEADER,
  type NoiseApi,
  type NoisePattern,
  newRid,
  noisePath,
  parseResponsePayload,
  protocolNameFor,
  type RequestPayload,
} from "./framing.js";
import { HandshakeState } from "./handshake-state.js";
import { type NoisePost, postNoise, type RawNoiseResponse } from "./post.js";
import { SESSION_OP } from "./session.js";
import { NoiseSession } from "./session-client.js";

export interface EncodeRequestOptions {
  api: NoiseApi;
  op: string;
  /** JSON-serializable arguments object. */
  args?: Record<string, unknown>;
  /** The server's static public key (pinned). */
  serverPublicKey: Uint8Array;
  /** Our static key pair. Required for KK; for IK a fresh one is generated per call if omitted. */
  clientStaticKey?: KeyPair;
  pattern: NoisePattern;
  backend?: BackendName | NoiseCrypto;
  /** Clock for `ts` (unix ms). */
  now?: () => number;
  /** A fixed request id (16 bytes, base64url) so a retry is recognized as the same request. */
  rid?: string;
  /** W3C traceparent, carried encrypted in the payload as `tp`. */
  traceparent?: string;
}

const HS = Symbol("noise.requestHandshake");

/** A request ready to send. Single use: decodeResponse consumes its handshake state. */
export interface EncodedNoiseRequest {
  /** `/noise/v1/<api>/<op>`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Handshake message 1. */
  readonly body: Uint8Array;
  readonly rid: string;
  /** hex(h after message 1)[0:16]: the same value the server's ops see as `correlationId`. */
  readonly correlationId: string;
  readonly [HS]: { hs: HandshakeState | null };
}

export function encodeRequest(opts: EncodeRequestOptions): EncodedNoiseRequest {
  const backend = resolveBackend(opts.backend);
  const path = noisePath(opts.api, opts.op);
  if (opts.op === SESSION_OP)
    throw new NoiseArgumentError(`op "${SESSION_OP}" is reserved: use NoiseSession`);
  const pattern = opts.pattern;
  const protocolName = protocolNameFor(pattern);
  let clientStatic = opts.clientStaticKey;
  if (clientStatic === undefined) {
    if (pattern === "KK") throw new NoiseArgumentError("KK needs clientStaticKey");
    clientStatic = backend.generateKeyPair();
  }
  const kid = keyId(opts.serverPublicKey, backend);
  const clientKeyHeader = pattern === "KK" ? encodeClientKey(clientStatic.publicKey) : "";
  const rid = opts.rid ?? newRid(backend);
  if (!isValidRid(rid)) throw new NoiseArgumentError("rid must be 16 bytes in base64url (22 characters)");
  const args = opts.args ?? {};
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    throw new NoiseArgumentError("args must be an object");
  }
  if (opts.traceparent !== undefined && !isValidTraceparent(opts.traceparent)) {
    throw new NoiseArgumentError("traceparent is not a W3C traceparent");
  }
  const ts = (opts.now ?? Date.now)();
  if (!Number.isSafeInteger(ts)) throw new NoiseArgumentError("now() must return integer unix milliseconds");
  const payload: RequestPayload = { v: 1, op: opts.op, ts, rid, args };
  if (opts.traceparent !== undefined) payload.tp = opts.traceparent;
  let json: string;
  try {
    json = JSON.stringify(payload);
  } catch (cause) {
    throw new NoiseArgumentError("args are not JSON-serializable", { cause });
  }

  const hs = new HandshakeState({
    protocolName,
    initiator: true,
    prologue: buildPrologue(path, kid, clientKeyHeader),
    staticKeyPair: clientStatic,
    remoteStaticKey: opts.serverPublicKey,
    backend,
  });
  const body = hs.writeMessage(utf8(json)); // NoiseMessageTooLargeError if the request is over one message
  const headers: Record<string, string> = {
    "Content-Type": NOISE_CONTENT_TYPE,
    [NOISE_SERVER_KEY_HEADER]: kid,
  };
  if (pattern === "KK") headers[NOISE_CLIENT_KEY_HEADER] = clientKeyHeader;
  return {
    path,
    headers,
    body,
    rid,
    correlationId: toHex(hs.getHandshakeHash()).slice(0, 16),
    [HS]: { hs },
  };
}

export type { NoisePost, NoisePostRequest, RawNoiseResponse } from "./post.js";

function bad(message: string, cause?: unknown): NoiseTransportError {
  return new NoiseTransportError("bad_response", message, { cause });
}

/**
 * Authenticate and decrypt a response. Returns the `result` of an `ok:true` response, throws
 * NoiseRemoteError for an authenticated `ok:false`, NoiseTransportError for anything else.
 */
export function decodeResponse(request: EncodedNoiseRequest, response: RawNoiseResponse): unknown {
  const slot = request[HS];
  const hs = slot.hs;
  if (hs === null) throw new NoiseStateError("decodeResponse already called for this request");
  slot.hs = null;
  if (response.status !== 200) {
    throw new NoiseTransportError("http_status", `unexpected HTTP status ${response.status}`, {
      status: response.status,
    });
  }
  const ct = (response.contentType ?? "").split(";")[0]?.trim().toLowerCase();
  if (ct !== NOISE_CONTENT_TYPE) {
    throw new NoiseTransportError("bad_content_type", "response is not application/x-noise", { status: 200 });
  }
  const frames = decodeFrames(response.body);
  if (frames === null || frames.length === 0) throw bad("response body is not a sequence of frames");
  const chunks: Uint8Array[] = [];
  try {
    chunks.push(hs.readMessage(frames[0] as Uint8Array));
    const { receive } = hs.split();
    for (let i = 1; i < frames.length; i++)
      chunks.push(receive.decryptWithAd(EMPTY, frames[i] as Uint8Array));
  } catch (cause) {
    throw bad("response did not authenticate", cause);
  }
  let total = 0;
  for (const c of chunks) total += c.length;
  const plain = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    plain.set(c, off);
    off += c.length;
  }
  // A response cut short at a frame boundary is a strict prefix of a JSON object: never valid JSON.
  const parsed = parseResponsePayload(plain);
  if (parsed === null) throw bad("authenticated response is not a valid response object");
  // rid "" only appears on an error the server sent before it could parse the request.
  if (parsed.rid !== request.rid && (parsed.ok || parsed.rid !== "")) {
    throw bad("response rid does not match the request");
  }
  if (parsed.ok) return parsed.result;
  throw new NoiseRemoteError(parsed.error.code, parsed.error.message, parsed.rid, parsed.error);
}

export interface NoiseCallOptions extends EncodeRequestOptions {
  /** Base URL of the service, e.g. "https://tkdb.internal:8443". */
  url: string;
  fetch?: typeof fetch;
  /** A transport hook (post.ts); when set, `fetch` is not used. */
  post?: NoisePost;
  /** Per HTTP exchange. Default 10 000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Largest response body accepted, default 16 MiB. */
  maxResponseBytes?: number;
  /**
   * "session" (default): open a session (a handshake that carries no arguments), then send the
   * request as a forward-secret transport message; two round trips. To reuse one session for many
   * calls, use `NoiseSession`. "request": the request rides in handshake message 1, which a later
   * theft of the server's static key decrypts; only for requests without secrets or credentials.
   */
  mode?: "session" | "request";
}

/** One RPC over HTTP/Noise. Resolves to the decrypted `result`. */
export async function noiseCall<T = unknown>(opts: NoiseCallOptions): Promise<T> {
  if (typeof opts.url !== "string") throw new NoiseArgumentError("url must be a string");
  const mode = opts.mode ?? "session";
  if (mode === "session") {
    const session = new NoiseSession(opts);
    try {
      return await session.call<T>(opts.op, opts.args ?? {}, {
        ...(opts.rid === undefined ? {} : { rid: opts.rid }),
        ...(opts.traceparent === undefined ? {} : { traceparent: opts.traceparent }),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        last: true,
      });
    } finally {
      session.close();
    }
  }
  if (mode !== "request") throw new NoiseArgumentError('mode must be "session" or "request"');
  const request = encodeRequest(opts);
  const url = opts.url.replace(/\/+$/, "") + request.path;
  const raw = await postNoise(url, request.headers, request.body, opts);
  return decodeResponse(request, raw) as T;
}
