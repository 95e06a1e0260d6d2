/**
 * listen/close for both services: a fetch-style handler (Hono's `app.fetch`) served by node:http
 * with the limits a public endpoint needs, and a graceful close.
 *
 *   const srv = await listen(app.fetch, { host: "127.0.0.1", port: 7401 });
 *   … await srv.close(10_000);   // stop accepting, let in-flight requests finish, then cut
 *
 * The handler's second argument is `{incoming, outgoing}`, the same bindings @hono/node-server
 * passes, so `c.env.incoming.socket.remoteAddress` (the socket's address, never a header) works
 * in a Hono app unchanged. Limits (defaults): request 10 s and headers 10 s to arrive, idle
 * keep-alive 5 s, idle socket 30 s, 1024 connections, 256 per address (IPv6 per /64), 16 KiB of
 * headers, a 128 KiB body (413 beyond, checked on Content-Length before the handler runs and
 * counted while streaming).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ServiceError } from "./errors.js";
import { addressBucket } from "./http-address.js";

export interface HttpBindings {
  readonly incoming: IncomingMessage;
  readonly outgoing: ServerResponse;
}

export type FetchHandler = (req: Request, env: HttpBindings) => Response | Promise<Response>;

export interface HttpLimits {
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly socketTimeoutMs: number;
  /** How often Node checks the request and header timeouts. */
  readonly checkIntervalMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  socketTimeoutMs: 30_000,
  checkIntervalMs: 1_000,
  maxConnections: 1024,
  maxConnectionsPerAddress: 256,
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 128 * 1024,
});

export interface ListenOptions extends Partial<HttpLimits> {
  /** Required: no default bind-all. */
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** A handler threw or its response stream failed (answered 500 or cut). Log it here. */
  readonly onError?: (err: unknown) => void;
  /**
   * A node:http listener in front of the fetch handler, given the handler's own listener to pass
   * the requests it does not serve to (tkdb's Noise routes skip the fetch Request/Response this
   * way: @tkdb/noise nodeNoiseListener). The server's timeouts and connection caps apply to all.
   */
  readonly front?: (rest: NodeRequestListener) => NodeRequestListener;
}

export type NodeRequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface Listening {
  /** http://host:port (IPv6 hosts in brackets) */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly server: Server;
  /** Requests being handled now. */
  readonly inFlight: number;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (default 10 000) with
   * `Connection: close` on their responses, then destroys every socket. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

/** The limits with defaults filled in, each checked (positive integers; headers ≤ request). */
export function resolveLimits(opts: Partial<HttpLimits>): HttpLimits {
  const out: Record<string, number> = { ...DEFAULT_HTTP_LIMITS };
  for (const k of Object.keys(DEFAULT_HTTP_LIMITS)) {
    const v = (opts as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0)
      throw new ServiceError("config", `HTTP limit ${k} must be a positive integer`, {
        details: { field: k },
      });
    out[k] = v;
  }
  const limits = out as unknown as HttpLimits;
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    throw new ServiceError("config", "headersTimeoutMs must not exceed requestTimeoutMs", {
      details: { field: "headersTimeoutMs" },
    });
  return limits;
}

class BodyTooLarge extends Error {}

/** The request body as a web stream that errors past `max` bytes, pulling with backpressure. */
function bodyStream(req: IncomingMessage, max: number): ReadableStream<Uint8Array> {
  let n = 0;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Buffer) => {
        n += chunk.length;
        if (n > max) {
          req.pause();
          controller.error(new BodyTooLarge());
          return;
        }
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.once("end", () => controller.close());
      req.once("error", (e) => controller.error(e));
      req.pause();
    },
    pull() {
      req.resume();
    },
    cancel() {
      req.pause();
    },
  });
}

function toRequest(req: IncomingMessage, base: string, limits: HttpLimits, signal: AbortSignal): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  const method = req.method ?? "GET";
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal };
  if (method !== "GET" && method !== "HEAD") {
    init.body = bodyStream(req, limits.maxBodyBytes);
    init.duplex = "half";
  }
  // Concatenated, never resolved: "//other.host/x" stays a path on this server.
  return new Request(`${base}${req.url ?? "/"}`, init);
}

async function writeResponse(res: ServerResponse, response: Response, head: boolean, closing: boolean) {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((v, k) => {
    if (k !== "set-cookie") headers[k] = v;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  if (closing) headers.connection = "close";
  res.writeHead(response.status, headers);
  if (response.body === null || head) {
    res.end();
    return;
  }
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    if (res.destroyed) return;
    if (!res.write(chunk))
      await new Promise<void>((r) => {
        res.once("drain", r);
        res.once("close", r);
      });
  }
  res.end();
}

/** What the request handler, the connection cap and close share about one server. */
interface ServerState {
  readonly limits: HttpLimits;
  readonly sockets: Set<Socket>;
  base: string;
  inFlight: number;
  closing: boolean;
  /** server.closeIdleConnections, once the server exists. */
  closeIdle: () => void;
}

/** node:http request → fetch handler → node:http response, with the body limit. */
function requestListener(handler: FetchHandler, state: ServerState, onError: (err: unknown) => void) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    state.inFlight++;
    const abort = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) abort.abort();
      state.inFlight--;
      // While closing, a connection whose last response just went out is idle: close it now.
      if (state.closing) setImmediate(() => state.closeIdle());
    });
    const declared = Number(req.headers["content-length"] ?? "0");
    if (!(req.url ?? "").startsWith("/") || !Number.isSafeInteger(declared) || declared < 0) {
      res.writeHead(400, { connection: "close" }).end();
      return;
    }
    if (declared > state.limits.maxBodyBytes) {
      res.writeHead(413, { connection: "close" }).end();
      return;
    }
    try {
      const request = toRequest(req, state.base, state.limits, abort.signal);
      const response = await handler(request, { incoming: req, outgoing: res });
      if (!(response instanceof Response)) throw new TypeError("handler did not return a Response");
      await writeResponse(res, response, req.method === "HEAD", state.closing);
    } catch (err) {
      const tooLarge =
        err instanceof BodyTooLarge || (err as { cause?: unknown })?.cause instanceof BodyTooLarge;
      if (!tooLarge) onError(err);
      if (!res.headersSent) res.writeHead(tooLarge ? 413 : 500, { connection: "close" }).end();
      else res.destroy();
    }
  };
}

/** Closes, on accept, a connection over the per-address cap (or any while closing). */
function capPerAddress(server: Server, state: ServerState): void {
  const perAddress = new Map<string, number>();
  server.prependListener("connection", (socket: Socket) => {
    const bucket = addressBucket(socket.remoteAddress);
    const n = perAddress.get(bucket) ?? 0;
    if (state.closing || n >= state.limits.maxConnectionsPerAddress) {
      socket.destroy();
      return;
    }
    perAddress.set(bucket, n + 1);
    state.sockets.add(socket);
    socket.once("close", () => {
      state.sockets.delete(socket);
      const left = (perAddress.get(bucket) ?? 1) - 1;
      if (left <= 0) perAddress.delete(bucket);
      else perAddress.set(bucket, left);
    });
  });
}

function bind(server: Server, host: string, port: number, urlHost: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const fail = (e: NodeJS.ErrnoException) =>
      reject(
        new ServiceError("config", `cannot listen on ${urlHost}:${port} (${e.code ?? "error"})`, {
          cause: e,
          details: { field: "port" },
        }),
      );
    server.once("error", fail);
    server.listen({ host, port }, () => {
      server.off("error", fail);
      const addr = server.address();
      resolve(typeof addr === "object" && addr !== null ? addr.port : port);
    });
  });
}

/** Graceful close: stop accepting, drain for `graceMs`, then cut whatever is left. */
function closer(server: Server, state: ServerState): (graceMs?: number) => Promise<void> {
  let closed: Promise<void> | undefined;
  return (graceMs = 10_000) => {
    closed ??= new Promise<void>((resolve) => {
      state.closing = true;
      // Past the grace, whatever is still open is cut (a slow client cannot hold shutdown).
      const timer = setTimeout(
        () => {
          server.closeAllConnections();
          for (const s of state.sockets) s.destroy();
        },
        Math.max(0, graceMs),
      );
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
    return closed;
  };
}

/** Serves `handler` on host:port with the limits; resolves once listening. */
export async function listen(handler: FetchHandler, opts: ListenOptions): Promise<Listening> {
  const limits = resolveLimits(opts);
  if (typeof opts.host !== "string" || opts.host === "")
    throw new ServiceError("config", "listen needs a host (no default bind-all)", {
      details: { field: "host" },
    });
  const urlHost = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const state: ServerState = {
    limits,
    sockets: new Set(),
    base: `http://${urlHost}`,
    inFlight: 0,
    closing: false,
    closeIdle: () => {},
  };
  const onRequest = requestListener(handler, state, opts.onError ?? (() => {}));
  const rest: NodeRequestListener = (req, res) => void onRequest(req, res);
  const fronted = opts.front?.(rest);
  // While closing, a connection whose last response just went out is idle: close it now.
  const serveRequest: NodeRequestListener =
    fronted === undefined
      ? rest
      : (req, res) => {
          res.once("close", () => {
            if (state.closing) setImmediate(() => state.closeIdle());
          });
          fronted(req, res);
        };
  const server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
      maxHeaderSize: limits.maxHeaderBytes,
    },
    serveRequest,
  );
  state.closeIdle = () => server.closeIdleConnections();
  server.timeout = limits.socketTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.maxHeadersCount = 100;
  capPerAddress(server, state);
  const port = await bind(server, opts.host, opts.port, urlHost);
  state.base = `http://${urlHost}:${port}`;
  return {
    url: state.base,
    host: opts.host,
    port,
    server,
    get inFlight() {
      return state.inFlight;
    },
    close: closer(server, state),
  };
}
