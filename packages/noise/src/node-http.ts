/**
 * HTTP/Noise on node:http directly, without a fetch Request and Response per call (a profile of
 * tkdb's verify on @hono/node-server put a quarter of the server's time in building them and in
 * reading the body through a web stream). Structural types only: this package imports no
 * node:http, so it still loads where there is none.
 *
 *   const server = createServer(httpServerOptions(limits),
 *     nodeNoiseListener([verifyHandler, signHandler], honoListener));
 *
 * The request body is read with the same bound as on the fetch path (the size limit applies to
 * what arrives, whatever Content-Length says): an over-long body gets the same bare 400 as soon as
 * it passes the bound, and the rest is drained, not kept. Node's request timeout bounds a body that
 * never ends.
 */
import { NOISE_CONTENT_TYPE } from "./framing.js";

/** The parts of node:http's IncomingMessage the handler reads. */
export interface NodeRequestLike {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string | undefined } | null;
  on(event: "data", cb: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close", cb: () => void): unknown;
  on(event: "error", cb: (err: Error) => void): unknown;
  resume(): unknown;
  readonly complete?: boolean;
}

/** The parts of node:http's ServerResponse the handler writes. */
export interface NodeResponseLike {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body?: Uint8Array): unknown;
  readonly headersSent?: boolean;
  destroy?(err?: Error): unknown;
}

export type NodeListener = (req: NodeRequestLike, res: NodeResponseLike) => void;

/** The body, or null when more than `max` bytes arrive (the rest is drained); rejects if the client goes away. */
export function readNodeBody(req: NodeRequestLike, max: number): Promise<Uint8Array | null> {
  const declaredRaw = req.headers["content-length"];
  if (typeof declaredRaw === "string" && !(Number(declaredRaw) <= max)) {
    req.resume();
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let over = false;
    let done = false;
    req.on("data", (chunk) => {
      if (over) return;
      total += chunk.length;
      if (total > max) {
        // Answer at once (the bare 400); what is still coming is drained and dropped.
        over = true;
        chunks.length = 0;
        done = true;
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (over) return;
      done = true;
      if (chunks.length === 1) return resolve(chunks[0] as Uint8Array);
      const out = new Uint8Array(total);
      let off = 0;
      for (const c of chunks) {
        out.set(c, off);
        off += c.length;
      }
      resolve(out);
    });
    req.on("error", (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
    req.on("close", () => {
      if (!done) reject(new Error("the request ended before its body"));
    });
  });
}

/** Writes a handler's answer: a bare status with an empty body, or an encrypted 200. */
export function writeNodeResponse(
  res: NodeResponseLike,
  r: { status: number; body: Uint8Array | null },
): void {
  if (r.body === null) {
    res.writeHead(r.status, { "Content-Length": "0" });
    res.end();
    return;
  }
  res.writeHead(200, {
    "Content-Type": NOISE_CONTENT_TYPE,
    "Cache-Control": "no-store",
    "Content-Length": String(r.body.length),
  });
  res.end(r.body);
}

/**
 * A node:http listener that answers `/noise/v1/<api>/…` with the handler of that api and passes
 * every other request to `fallback` (e.g. @hono/node-server's listener for the rest of the app).
 * `around` wraps each Noise call (e.g. to set a request-scoped start time). An error escaping a
 * handler (it catches its own) answers a bare 500, or drops the connection if headers were sent.
 */
export function nodeNoiseListener(
  handlers: readonly {
    readonly api: string;
    node(req: NodeRequestLike, res: NodeResponseLike): Promise<void>;
  }[],
  fallback: NodeListener,
  around: (run: () => Promise<void>) => Promise<void> = (run) => run(),
): NodeListener {
  const routes = handlers.map((h) => ({ prefix: `/noise/v1/${h.api}/`, h }));
  return (req, res) => {
    const url = req.url ?? "";
    const route = routes.find((r) => url.startsWith(r.prefix));
    if (route === undefined) return fallback(req, res);
    around(() => route.h.node(req, res)).catch(() => {
      if (res.headersSent) res.destroy?.();
      else {
        res.writeHead(500, { "Content-Length": "0" });
        res.end();
      }
    });
  };
}
