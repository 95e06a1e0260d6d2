/**
 * One RPC over HTTP/Noise to an ordered list of endpoints (nearest first), with retries,
 * backoff and failover. Only transport failures are retried; an authenticated refusal from the
 * service is final, except `not_primary` (a replica refusing a write), which moves on to the next
 * endpoint at once. Mutating calls keep one `rid` across every attempt, so the service answers a
 * retry of an operation it already applied with the stored result.
 */
import {
  type BackendName,
  type KeyPair,
  type NoiseApi,
  type NoiseCrypto,
  NoiseRemoteError,
  NoiseTransportError,
  noiseCall,
  resolveBackend,
} from "@tkdb/noise";
import { ClientArgumentError, UnavailableError } from "./errors.js";
import { type RetryOptions, withFailover } from "./retry.js";

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
  fetch?: typeof fetch;
  /** Per attempt. Default 5 000 ms. */
  timeoutMs?: number;
  retry?: RetryOptions;
}

export function newRid(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function isRetryable(err: unknown): boolean {
  if (err instanceof NoiseTransportError) return true;
  return err instanceof NoiseRemoteError && (err.code === "not_primary" || err.code === "unavailable");
}

export class NoiseRpc {
  /**
   * Our static key for every call. For IK a fresh one is made once per client, not per call: the
   * services key idempotency on (client key, rid), so a retry must present the same key.
   */
  private readonly staticKey: KeyPair;
  private readonly explicitKey: boolean;

  constructor(private readonly opts: RpcOptions) {
    if (!opts || !Array.isArray(opts.endpoints) || opts.endpoints.length === 0)
      throw new ClientArgumentError("at least one endpoint is required");
    this.explicitKey = opts.clientStaticKey !== undefined;
    this.staticKey = opts.clientStaticKey ?? resolveBackend(opts.backend).generateKeyPair();
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
    const rid = opts.mutating ? newRid() : undefined;
    try {
      return await withFailover(
        this.opts.endpoints,
        (ep) =>
          noiseCall<T>({
            url: ep.url,
            api,
            op,
            args,
            pattern,
            serverPublicKey: ep.serverPublicKey,
            clientStaticKey: this.staticKey,
            ...(this.opts.backend ? { backend: this.opts.backend } : {}),
            ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
            ...(rid ? { rid } : {}),
            ...(opts.traceparent ? { traceparent: opts.traceparent } : {}),
            timeoutMs: this.opts.timeoutMs ?? 5_000,
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
