/**
 * Limits for the Node HTTP server that carries HTTP/Noise (transport denial of service): request
 * and header timeouts, so a client sending headers or a body byte by byte cannot hold a connection
 * for minutes; a cap on open connections; and a cap per address bucket (`address.ts`), so one
 * source cannot take every connection slot. No import of node:http: the functions take the
 * options object and the server structurally, so this package stays free of server dependencies.
 *
 *   const limits = resolveHttpLimits(config.http);
 *   const server = serve({ fetch, port, hostname, serverOptions: httpServerOptions(limits) });
 *   limitConnections(server, limits);
 */
import { addressBucket } from "./address.js";
import { NoiseArgumentError } from "./errors.js";

export interface HttpLimits {
  /** Whole request (headers and body) must arrive within this. Default 10 000 ms. */
  requestTimeoutMs: number;
  /** Headers must arrive within this (≤ requestTimeoutMs). Default 10 000 ms. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. Default 5 000 ms. */
  keepAliveTimeoutMs: number;
  /** A socket with no activity at all is closed after this. Default 30 000 ms. */
  socketTimeoutMs: number;
  /** How often Node checks the request and header timeouts. Default 1 000 ms. */
  checkIntervalMs: number;
  /** Open connections in all; more are closed on accept. Default 2048. */
  maxConnections: number;
  /** Open connections from one address bucket; more are closed on accept. Default 256. */
  maxConnectionsPerAddress: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  socketTimeoutMs: 30_000,
  checkIntervalMs: 1_000,
  maxConnections: 2048,
  maxConnectionsPerAddress: 256,
});

/** Defaults filled in and every value checked (positive integers; headers ≤ request timeout). */
export function resolveHttpLimits(partial: Partial<HttpLimits> = {}): HttpLimits {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
  for (const [k, v] of Object.entries(partial)) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_HTTP_LIMITS)) throw new NoiseArgumentError(`unknown HTTP limit ${k}`);
    if (!(typeof v === "number" && Number.isSafeInteger(v) && v > 0))
      throw new NoiseArgumentError(`HTTP limit ${k} must be a positive integer`);
    limits[k as keyof HttpLimits] = v;
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    throw new NoiseArgumentError("headersTimeoutMs must not exceed requestTimeoutMs");
  return limits;
}

/** Options for `http.createServer` (connectionsCheckingInterval can only be set there). */
export function httpServerOptions(limits: HttpLimits): {
  requestTimeout: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
  };
}

interface SocketLike {
  remoteAddress?: string | undefined;
  destroy(): void;
  once(event: "close", cb: () => void): unknown;
}

interface ServerLike {
  maxConnections?: number;
  timeout?: number;
  requestTimeout?: number;
  headersTimeout?: number;
  keepAliveTimeout?: number;
  prependListener(event: "connection", cb: (socket: SocketLike) => void): unknown;
}

/**
 * Apply the limits to a listening `http.Server` (timeouts again, in case the server was built
 * without httpServerOptions, the total cap, the per-address cap and the idle socket timeout).
 */
export function limitConnections(server: unknown, limits: HttpLimits): void {
  const s = server as ServerLike;
  s.requestTimeout = limits.requestTimeoutMs;
  s.headersTimeout = limits.headersTimeoutMs;
  s.keepAliveTimeout = limits.keepAliveTimeoutMs;
  s.timeout = limits.socketTimeoutMs;
  s.maxConnections = limits.maxConnections;
  const open = new Map<string, number>();
  s.prependListener("connection", (socket) => {
    const bucket = addressBucket(socket.remoteAddress);
    const n = open.get(bucket) ?? 0;
    if (n >= limits.maxConnectionsPerAddress) {
      socket.destroy();
      return;
    }
    open.set(bucket, n + 1);
    socket.once("close", () => {
      const left = (open.get(bucket) ?? 1) - 1;
      if (left <= 0) open.delete(bucket);
      else open.set(bucket, left);
    });
  });
}
