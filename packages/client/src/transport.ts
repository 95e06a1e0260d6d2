/**
 * The clients' default HTTP transport on Node: @tkdb/noise's transport hook (`post`) over
 * `node:http` with one keep-alive agent per client. Node's global fetch builds a WHATWG Request,
 * Headers, Response and a web stream per call, which costs the caller several times what the RPC
 * itself does; this path costs about what a plain `http.request` does, with its own deadline timer
 * and body bound (no AbortController or listener per call). Outside Node (no `node:http`), or for
 * an `https:` URL, @tkdb/noise's fetch path (the global fetch) is used as before. A deadline or a
 * caller's abort destroys the request, and whatever was read is dropped.
 */
import type { Agent, IncomingMessage } from "node:http";
import {
  type NoisePost,
  type NoisePostRequest,
  NoiseTransportError,
  postNoise,
  type RawNoiseResponse,
} from "@tkdb/noise";

type Http = typeof import("node:http");

/** A refused (non-200) answer this small is drained so its connection is reused; larger: closed. */
const DRAIN_MAX = 64 * 1024;

let http: Http | null | undefined;
let loading: Promise<Http | null> | undefined;

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof p?.versions?.node === "string";
}

/** node:http, once, or null where there is none (then the global fetch is used). */
function loadHttp(): Promise<Http | null> {
  if (loading === undefined) {
    if (!isNode()) {
      http = null;
      loading = Promise.resolve(null);
    } else {
      loading = import("node:http").then(
        (m) => {
          http = m;
          return m;
        },
        () => {
          http = null;
          return null;
        },
      );
    }
  }
  return loading;
}

interface Target {
  hostname: string;
  port: string;
  path: string;
}

export interface NodeTransport {
  /**
   * The transport hook to hand to @tkdb/noise (the clients' default): one `http.request` per POST,
   * its own deadline timer and body bound, no Response, AbortController or listener per call.
   * Falls back to the global fetch where node:http is missing or the URL is not plain `http:`.
   */
  readonly post: NoisePost;
  /** Close the keep-alive connections (a later call opens new ones). */
  close(): void;
}

/** A transport with its own keep-alive agent (one per client: `close` ends only its sockets). */
export function nodeTransport(): NodeTransport {
  let agent: Agent | undefined;
  // The parsed target per URL string (a client calls a few endpoints × ops: a small set).
  const targets = new Map<string, Target | null>();
  const target = (url: string): Target | null => {
    let t = targets.get(url);
    if (t === undefined) {
      const u = new URL(url);
      t =
        u.protocol === "http:" && u.username === "" && u.password === ""
          ? {
              hostname: u.hostname.replace(/^\[|\]$/g, ""),
              port: u.port || "80",
              path: u.pathname + u.search,
            }
          : null;
      if (targets.size < 1024) targets.set(url, t);
    }
    return t;
  };

  const post: NoisePost = async (r) => {
    const h = http === undefined ? await loadHttp() : http;
    const t = h === null ? null : target(r.url);
    if (h === null || t === null) {
      const { url, headers, body, ...opts } = r;
      return postNoise(url, headers, body, opts);
    }
    agent ??= new h.Agent({ keepAlive: true, scheduling: "lifo" });
    return sendRaw(h, agent, t, r);
  };
  return {
    post,
    close() {
      agent?.destroy();
      agent = undefined;
    },
  };
}

/**
 * One POST for the transport hook. Settles once: the first of the answer, the deadline, the
 * caller's abort or a socket error; a deadline or abort destroys the request and its socket.
 */
function sendRaw(h: Http, agent: Agent, t: Target, r: NoisePostRequest): Promise<RawNoiseResponse> {
  const { signal, timeoutMs } = r;
  return new Promise<RawNoiseResponse>((resolve, reject) => {
    const aborted = () =>
      new NoiseTransportError("aborted", "request aborted by the caller", { cause: signal?.reason });
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    let settled = false;
    let res: IncomingMessage | undefined;
    const settle = (err: Error | null, value?: RawNoiseResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (err === null) resolve(value as RawNoiseResponse);
      else reject(err);
    };
    /** Fail the call and drop its connection (an unread or half-read answer never reaches reuse). */
    const fail = (e: Error) => {
      settle(e);
      req.destroy();
      res?.destroy();
    };
    const req = h.request({
      hostname: t.hostname,
      port: t.port,
      path: t.path,
      method: "POST",
      headers: { ...r.headers, "Content-Length": r.body.length },
      agent,
    });
    const timer = setTimeout(
      () => fail(new NoiseTransportError("timeout", `no response within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = () => fail(aborted());
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (cause) => settle(new NoiseTransportError("network", "request failed", { cause })));
    req.on("response", (m: IncomingMessage) => {
      res = m;
      readAnswer(m, r, settle, fail);
    });
    req.end(r.body);
  });
}

/**
 * sendRaw's answer: a non-200 settles at once with an empty body (a small one drained within the
 * call's deadline so its connection is reused, a large one dropped); a 200's body is read within
 * the bound, and only a complete one settles the call.
 */
function readAnswer(
  m: IncomingMessage,
  r: NoisePostRequest,
  settle: (err: Error | null, value?: RawNoiseResponse) => void,
  fail: (e: Error) => void,
): void {
  const { timeoutMs, maxResponseBytes } = r;
  const status = m.statusCode ?? 0;
  const ct = m.headers["content-type"];
  const contentType = ct === undefined ? null : ct;
  const declared = Number(m.headers["content-length"]);
  if (status !== 200) {
    // A server that stalls mid-refusal loses the connection at the deadline.
    if (Number.isSafeInteger(declared) && declared <= DRAIN_MAX) {
      const drain = setTimeout(() => m.destroy(), timeoutMs);
      m.once("close", () => clearTimeout(drain));
      m.resume();
    } else m.destroy();
    settle(null, { status, contentType, body: new Uint8Array(0) });
    return;
  }
  const tooLarge = () =>
    fail(
      new NoiseTransportError("response_too_large", `response body over ${maxResponseBytes} bytes`, {
        status,
      }),
    );
  if (declared > maxResponseBytes) {
    tooLarge();
    return;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const broken = (cause?: unknown) =>
    fail(new NoiseTransportError("network", "reading the response failed", { cause, status }));
  m.on("data", (c: Buffer) => {
    total += c.length;
    if (total > maxResponseBytes) tooLarge();
    else chunks.push(c);
  });
  m.on("error", broken);
  m.on("close", () => {
    if (!m.complete) broken();
  });
  m.on("end", () => {
    if (!m.complete) {
      broken();
      return;
    }
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
    settle(null, { status, contentType, body: new Uint8Array(body.buffer, body.byteOffset, body.length) });
  });
}
