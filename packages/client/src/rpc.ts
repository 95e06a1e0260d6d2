/**
 * One RPC over HTTP/Noise to an ordered list of endpoints (nearest first), with retries,
 * backoff and failover. Only transport failures are retried; an authenticated refusal from the
 * service is final, except `not_primary` (a replica refusing a write) and `stale` (a replica that
 * cannot hear its primary), which move on to the next endpoint at once. Mutating calls keep one
 * `rid` across every attempt, so the service answers a retry of an operation it already applied
 * with the stored result.
 *
 * Every call travels in a Noise session by default (one handshake per endpoint and API, then
 * forward-secret transport messages; see @tkdb/noise "Session mode"). The per-request mode, where
 * the request rides in handshake message 1 and a later theft of the server's static key decrypts
 * it, is refused for every op that carries secret values or credentials (FORWARD_SECRET_OPS).
 */
import {
  type BackendName,
  type KeyPair,
  type NoiseApi,
  type NoiseCrypto,
  type NoisePost,
  NoiseRemoteError,
  NoiseSession,
  NoiseTransportError,
  noiseCall,
  resolveBackend,
} from "@tkdb/noise";
import { ClientArgumentError, UnavailableError } from "./errors.js";
import { type RetryOptions, withFailover } from "./retry.js";
import { type NodeTransport, nodeTransport } from "./transport.js";

export interface Endpoint {
  /** Base URL, e.g. `http://127.0.0.1:7001`. */
  url: string;
  /** The service's pinned Noise static public key. */
  serverPublicKey: Uint8Array;
  /** Informational: the region, for logs. */
  region?: string;
}

export interface RpcOptions {
  /** Ordered by proximity: the nearest first. */
  endpoints: readonly Endpoint[];
  /** Our static key: required for the signing API (KK), optional for IK. */
  clientStaticKey?: KeyPair;
  backend?: BackendName | NoiseCrypto;
  /** Default: node:http with a keep-alive agent on Node (transport.ts), the global fetch elsewhere. */
  fetch?: typeof fetch;
  /** Per attempt. Default 5 000 ms. */
  timeoutMs?: number;
  retry?: RetryOptions;
  /**
   * "session" (default) or "request" (the request in handshake message 1: not forward secret;
   * refused for FORWARD_SECRET_OPS).
   */
  mode?: "session" | "request";
  /**
   * Trace context for every call: returns the caller's active W3C traceparent (or undefined), put
   * in the encrypted payload's `tp` so the service's span is a child of the caller's. This package
   * has no OpenTelemetry dependency; with an SDK registered, pass e.g. @tkdb/service's
   * `currentTraceparent`. Asked once per call (every attempt and failover carries the same value);
   * a provider that throws or returns something that is not a traceparent sends no `tp`.
   * A per-call `traceparent` wins.
   */
  traceparent?: () => string | undefined;
}

/** W3C trace-context traceparent (version 00 layout; version ff and all-zero ids invalid). */
const TRACEPARENT_RE = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Ops whose arguments carry secret values or authentication material (tokens, discharges): never
 * sent in a handshake message 1. The services refuse them there too (`forward_secrecy_required`).
 */
export const FORWARD_SECRET_OPS: Readonly<Record<NoiseApi, readonly string[]>> = Object.freeze({
  verify: ["verify", "discharge"],
  sign: ["strip", "revoke"],
  secrets: ["set", "import", "unset", "rollback", "list", "resolve"],
});

export function newRid(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function isRetryable(err: unknown): boolean {
  if (err instanceof NoiseTransportError) return true;
  return (
    err instanceof NoiseRemoteError &&
    (err.code === "not_primary" || err.code === "unavailable" || err.code === "stale")
  );
}

export class NoiseRpc {
  /**
   * Our static key for every call. For IK a fresh one is made once per client, not per call: the
   * services key idempotency on (client key, rid), so a retry must present the same key.
   */
  private readonly staticKey: KeyPair;
  private readonly explicitKey: boolean;
  /** One session per (api, endpoint), opened on first use and re-opened as needed. */
  private readonly sessions = new Map<string, NoiseSession>();
  /** Our own transport when the caller gave no fetch. */
  private readonly transport: NodeTransport | undefined;
  /** What carries each POST: the caller's fetch, or our transport's hook. */
  private readonly carrier: { fetch: typeof fetch } | { post: NoisePost };

  constructor(private readonly opts: RpcOptions) {
    if (!opts || !Array.isArray(opts.endpoints) || opts.endpoints.length === 0)
      throw new ClientArgumentError("at least one endpoint is required");
    this.explicitKey = opts.clientStaticKey !== undefined;
    this.staticKey = opts.clientStaticKey ?? resolveBackend(opts.backend).generateKeyPair();
    if (opts.mode !== undefined && opts.mode !== "session" && opts.mode !== "request")
      throw new ClientArgumentError('mode must be "session" or "request"');
    this.transport = opts.fetch === undefined ? nodeTransport() : undefined;
    this.carrier =
      opts.fetch !== undefined ? { fetch: opts.fetch } : { post: (this.transport as NodeTransport).post };
  }

  private session(api: NoiseApi, ep: Endpoint): NoiseSession {
    const key = `${api} ${ep.url}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      s = new NoiseSession({
        url: ep.url,
        api,
        pattern: api === "sign" ? "KK" : "IK",
        serverPublicKey: ep.serverPublicKey,
        clientStaticKey: this.staticKey,
        ...(this.opts.backend ? { backend: this.opts.backend } : {}),
        ...this.carrier,
        timeoutMs: this.opts.timeoutMs ?? 5_000,
      });
      this.sessions.set(key, s);
    }
    return s;
  }

  /** The provider's traceparent, if any and well-formed: tracing never fails a call. */
  private activeTraceparent(): string | undefined {
    const provider = this.opts.traceparent;
    if (provider === undefined) return undefined;
    try {
      const tp = provider();
      return typeof tp === "string" && TRACEPARENT_RE.test(tp) ? tp : undefined;
    } catch {
      return undefined;
    }
  }

  /** Close every session and wipe its keys (a later call opens new ones). */
  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    this.transport?.close();
  }

  async call<T>(
    api: NoiseApi,
    op: string,
    args: Record<string, unknown>,
    opts: { mutating?: boolean; traceparent?: string } = {},
  ): Promise<T> {
    const pattern = api === "sign" ? "KK" : "IK";
    if (pattern === "KK" && !this.explicitKey)
      throw new ClientArgumentError("the signing API needs clientStaticKey");
    const perRequest = this.opts.mode === "request";
    if (perRequest && FORWARD_SECRET_OPS[api]?.includes(op))
      throw new ClientArgumentError(
        `${api}/${op} carries secrets or credentials: it is sent only in a session`,
      );
    const rid = opts.mutating ? newRid() : undefined;
    const tp = opts.traceparent ?? this.activeTraceparent();
    try {
      return await withFailover(
        this.opts.endpoints,
        (ep) =>
          perRequest
            ? noiseCall<T>({
                url: ep.url,
                api,
                op,
                args,
                pattern,
                serverPublicKey: ep.serverPublicKey,
                clientStaticKey: this.staticKey,
                ...(this.opts.backend ? { backend: this.opts.backend } : {}),
                ...this.carrier,
                ...(rid ? { rid } : {}),
                ...(tp ? { traceparent: tp } : {}),
                timeoutMs: this.opts.timeoutMs ?? 5_000,
                mode: "request",
              })
            : this.session(api, ep).call<T>(op, args, {
                ...(rid ? { rid } : {}),
                ...(tp ? { traceparent: tp } : {}),
              }),
        isRetryable,
        this.opts.retry,
      );
    } catch (err) {
      if (err instanceof AggregateError) {
        const last = err.errors.at(-1);
        if (last instanceof NoiseRemoteError) throw last;
        throw new UnavailableError(`${api}/${op}: no endpoint answered`, { cause: err });
      }
      throw err;
    }
  }
}
