/**
 * HTTP/Noise session mode, client side (framing in session.ts). One `NoiseSession` holds at most
 * one open session with one server API and sends each call as a transport message with an
 * explicit counter, so no request argument ever travels in a handshake message 1. It opens the
 * session on first use, re-opens it before its announced lifetime, idle TTL or message budget
 * runs out, and re-handshakes once, transparently, when the server answers 410 (unknown or expired
 * session; the server did not process the request). A re-sent call keeps its `rid`.
 */
import { concatBytes, utf8 } from "./bytes.js";
import type { CipherState } from "./cipher-state.js";
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
  type ResponsePayload,
} from "./framing.js";
import { HandshakeState } from "./handshake-state.js";
import { type NoisePost, postNoise, type RawNoiseResponse } from "./post.js";
import {
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

export interface NoiseSessionOptions {
  /** Base URL of the service. */
  url: string;
  api: NoiseApi;
  /** The api's own pattern: IK for verify and secrets, KK for sign. */
  pattern: NoisePattern;
  /** The server's static public key (pinned). */
  serverPublicKey: Uint8Array;
  /** Required for KK; for IK a fresh one is made per session when omitted. */
  clientStaticKey?: KeyPair;
  backend?: BackendName | NoiseCrypto;
  fetch?: typeof fetch;
  /** A transport hook (post.ts); when set, `fetch` is not used. */
  post?: NoisePost;
  /** Per HTTP exchange (the handshake and each call). Default 10 000 ms. */
  timeoutMs?: number;
  /** Largest response body accepted, default 16 MiB. */
  maxResponseBytes?: number;
  /** Clock for `ts` and for the session's local expiry (unix ms). */
  now?: () => number;
}

export interface SessionCallOptions {
  /** A fixed request id (16 bytes, base64url): the same logical request on every attempt. */
  rid?: string;
  traceparent?: string;
  signal?: AbortSignal;
  /**
   * This is the session's last call (a one-shot session): the request says so (`end`), the server
   * drops the session after answering, and this client forgets it.
   */
  last?: boolean;
}

interface OpenSession {
  readonly id: string;
  readonly send: CipherState;
  readonly receive: CipherState;
  readonly openedAt: number;
  lastUsed: number;
  readonly idleTtlMs: number;
  readonly lifetimeMs: number;
  readonly maxMessages: bigint;
  next: bigint;
  inflight: number;
  retired: boolean;
}

/** Re-open this long (at most a quarter of the span) before the server's idle TTL or lifetime ends. */
const EXPIRY_MARGIN_MS = 5_000;

function bad(message: string, cause?: unknown): NoiseTransportError {
  return new NoiseTransportError("bad_response", message, { cause });
}

function checkStatus(raw: RawNoiseResponse): void {
  if (raw.status !== 200) {
    throw new NoiseTransportError("http_status", `unexpected HTTP status ${raw.status}`, {
      status: raw.status,
    });
  }
  const ct = (raw.contentType ?? "").split(";")[0]?.trim().toLowerCase();
  if (ct !== NOISE_CONTENT_TYPE) {
    throw new NoiseTransportError("bad_content_type", "response is not application/x-noise", { status: 200 });
  }
}

/** The authenticated response object, checked against `rid`; throws like decodeResponse. */
function checkResponse(plain: Uint8Array, rid: string): ResponsePayload & { ok: true } {
  const parsed = parseResponsePayload(plain);
  if (parsed === null) throw bad("authenticated response is not a valid response object");
  if (parsed.rid !== rid && (parsed.ok || parsed.rid !== ""))
    throw bad("response rid does not match the request");
  if (!parsed.ok)
    throw new NoiseRemoteError(parsed.error.code, parsed.error.message, parsed.rid, parsed.error);
  return parsed;
}

export class NoiseSession {
  readonly #opts: NoiseSessionOptions;
  readonly #backend: NoiseCrypto;
  readonly #kid: string;
  readonly #base: string;
  readonly #now: () => number;
  #current: OpenSession | null = null;
  #opening: Promise<OpenSession> | null = null;
  #closed = false;

  constructor(opts: NoiseSessionOptions) {
    if (typeof opts?.url !== "string") throw new NoiseArgumentError("url must be a string");
    this.#backend = resolveBackend(opts.backend);
    protocolNameFor(opts.pattern);
    noisePath(opts.api, SESSION_OP);
    if (opts.pattern === "KK" && opts.clientStaticKey === undefined)
      throw new NoiseArgumentError("KK needs clientStaticKey");
    if ((opts.api === "sign") !== (opts.pattern === "KK"))
      throw new NoiseArgumentError("the sign api uses KK; verify and secrets use IK");
    this.#opts = opts;
    this.#kid = keyId(opts.serverPublicKey, this.#backend);
    this.#base = opts.url.replace(/\/+$/, "");
    this.#now = opts.now ?? Date.now;
  }

  /** One RPC inside the session. Resolves to the decrypted `result`. */
  async call<T = unknown>(
    op: string,
    args: Record<string, unknown> = {},
    opts: SessionCallOptions = {},
  ): Promise<T> {
    if (this.#closed) throw new NoiseStateError("session closed");
    const path = noisePath(this.#opts.api, op);
    if (op === SESSION_OP) throw new NoiseArgumentError(`op "${SESSION_OP}" is reserved`);
    if (typeof args !== "object" || args === null || Array.isArray(args))
      throw new NoiseArgumentError("args must be an object");
    const rid = opts.rid ?? newRid(this.#backend);
    if (!isValidRid(rid)) throw new NoiseArgumentError("rid must be 16 bytes in base64url (22 characters)");
    if (opts.traceparent !== undefined && !isValidTraceparent(opts.traceparent))
      throw new NoiseArgumentError("traceparent is not a W3C traceparent");
    let gone = 0;
    for (;;) {
      const st = await this.#session(opts.signal);
      if (st.retired) continue; // dropped by a concurrent call while we waited
      const n = st.next;
      st.next += 1n;
      if (n >= st.maxMessages || n >= SESSION_COUNTER_LIMIT) {
        this.#retire(st);
        continue;
      }
      st.inflight += 1;
      // The last call: no later call may pick this session (the server drops it once answered);
      // the keys stay until this call ends (inflight).
      if (opts.last === true) this.#retire(st);
      try {
        return (await this.#send(st, n, path, op, args, rid, opts)) as T;
      } catch (err) {
        if (err instanceof SessionGone && gone++ === 0) continue;
        if (err instanceof SessionGone)
          throw new NoiseTransportError("session_gone", "the server dropped the session twice", {
            status: SESSION_GONE_STATUS,
          });
        throw err;
      } finally {
        st.inflight -= 1;
        if (st.retired && st.inflight === 0) this.#wipe(st);
      }
    }
  }

  /** Forget the session and wipe its keys; later calls throw. */
  close(): void {
    this.#closed = true;
    if (this.#current !== null) this.#retire(this.#current);
  }

  async #send(
    st: OpenSession,
    n: bigint,
    path: string,
    op: string,
    args: Record<string, unknown>,
    rid: string,
    opts: SessionCallOptions,
  ): Promise<unknown> {
    const ts = this.#now();
    if (!Number.isSafeInteger(ts))
      throw new NoiseArgumentError("now() must return integer unix milliseconds");
    const payload: RequestPayload = { v: 1, op, ts, rid, args };
    if (opts.traceparent !== undefined) payload.tp = opts.traceparent;
    if (opts.last === true) payload.end = true;
    let json: string;
    try {
      json = JSON.stringify(payload);
    } catch (cause) {
      throw new NoiseArgumentError("args are not JSON-serializable", { cause });
    }
    const ad = sessionAd(path, this.#kid, st.id);
    // setNonce and encrypt in one synchronous step (explicit nonces: calls may be concurrent).
    st.send.setNonce(n);
    const ct = st.send.encryptWithAd(ad, utf8(json)); // NoiseMessageTooLargeError: nothing is sent
    const headers = {
      "Content-Type": NOISE_CONTENT_TYPE,
      [NOISE_SERVER_KEY_HEADER]: this.#kid,
      [NOISE_SESSION_HEADER]: st.id,
    };
    st.lastUsed = this.#now();
    const raw = await postNoise(this.#base + path, headers, concatBytes(encodeCounter(n), ct), {
      ...this.#post(),
      signal: opts.signal,
    });
    if (raw.status === SESSION_GONE_STATUS) {
      this.#retire(st);
      throw new SessionGone();
    }
    checkStatus(raw);
    const frames = decodeFrames(raw.body);
    if (frames === null || frames.length === 0 || frames.length > SESSION_MAX_FRAMES)
      throw bad("response body is not a sequence of frames");
    const chunks: Uint8Array[] = [];
    try {
      for (const [i, f] of frames.entries()) {
        st.receive.setNonce(responseNonce(n, i));
        chunks.push(st.receive.decryptWithAd(ad, f));
      }
    } catch (cause) {
      throw bad("response did not authenticate", cause);
    }
    return checkResponse(concatBytes(...chunks), rid).result;
  }

  #post() {
    return {
      fetch: this.#opts.fetch,
      post: this.#opts.post,
      timeoutMs: this.#opts.timeoutMs,
      maxResponseBytes: this.#opts.maxResponseBytes,
    };
  }

  /** The open session, opening one (shared by concurrent callers) when there is none or it is due. */
  async #session(signal: AbortSignal | undefined): Promise<OpenSession> {
    const st = this.#current;
    if (st !== null) {
      const t = this.#now();
      const margin = (ms: number) => ms - Math.min(EXPIRY_MARGIN_MS, ms / 4);
      const due =
        t - st.lastUsed >= margin(st.idleTtlMs) ||
        t - st.openedAt >= margin(st.lifetimeMs) ||
        st.next >= st.maxMessages;
      if (!due) return st;
      this.#retire(st);
    }
    if (this.#opening === null) {
      this.#opening = this.#open().finally(() => {
        this.#opening = null;
      });
    }
    const opened = await abortable(this.#opening, signal);
    if (this.#closed) {
      this.#retire(opened);
      throw new NoiseStateError("session closed");
    }
    return opened;
  }

  #retire(st: OpenSession): void {
    st.retired = true;
    if (this.#current === st) this.#current = null;
    if (st.inflight === 0) this.#wipe(st);
  }

  #wipe(st: OpenSession): void {
    st.send.destroy();
    st.receive.destroy();
  }

  /** The handshake: message 1 carries only v, op "session", ts and rid; message 2 the session id. */
  async #open(): Promise<OpenSession> {
    const o = this.#opts;
    const backend = this.#backend;
    const clientStatic = o.clientStaticKey ?? backend.generateKeyPair();
    const path = noisePath(o.api, SESSION_OP);
    const clientKeyHeader = o.pattern === "KK" ? encodeClientKey(clientStatic.publicKey) : "";
    const hs = new HandshakeState({
      protocolName: protocolNameFor(o.pattern),
      initiator: true,
      prologue: buildPrologue(path, this.#kid, clientKeyHeader),
      staticKeyPair: clientStatic,
      remoteStaticKey: o.serverPublicKey,
      backend,
    });
    const rid = newRid(backend);
    const ts = this.#now();
    const msg1 = hs.writeMessage(utf8(JSON.stringify({ v: 1, op: SESSION_OP, ts, rid })));
    const headers: Record<string, string> = {
      "Content-Type": NOISE_CONTENT_TYPE,
      [NOISE_SERVER_KEY_HEADER]: this.#kid,
    };
    if (o.pattern === "KK") headers[NOISE_CLIENT_KEY_HEADER] = clientKeyHeader;
    const raw = await postNoise(this.#base + path, headers, msg1, this.#post());
    checkStatus(raw);
    const frames = decodeFrames(raw.body);
    if (frames === null || frames.length !== 1) throw bad("session open answer is not one frame");
    let plain: Uint8Array;
    try {
      plain = hs.readMessage(frames[0] as Uint8Array);
    } catch (cause) {
      throw bad("response did not authenticate", cause);
    }
    const result = checkResponse(plain, rid).result as Record<string, unknown> | null;
    const int = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v > 0;
    if (
      result === null ||
      typeof result !== "object" ||
      !isValidSessionId(result.session) ||
      !int(result.idle_ttl_ms) ||
      !int(result.lifetime_ms) ||
      !int(result.max_messages)
    ) {
      throw bad("session open answer is malformed");
    }
    const { send, receive } = hs.split();
    const t = this.#now();
    const st: OpenSession = {
      id: result.session as string,
      send,
      receive,
      openedAt: t,
      lastUsed: t,
      idleTtlMs: result.idle_ttl_ms as number,
      lifetimeMs: result.lifetime_ms as number,
      maxMessages: BigInt(result.max_messages as number),
      next: 0n,
      inflight: 0,
      retired: false,
    };
    if (this.#closed) {
      this.#wipe(st);
      throw new NoiseStateError("session closed");
    }
    this.#current = st;
    return st;
  }
}

/** Wait for a shared promise, but stop waiting (not the promise) when the caller aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  const aborted = () =>
    new NoiseTransportError("aborted", "request aborted by the caller", { cause: signal.reason });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** The server answered 410: the session is unknown or expired there, nothing was processed. */
class SessionGone extends Error {}
