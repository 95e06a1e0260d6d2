/** One HTTP POST of a Noise message: timeout, caller abort, bounded response body. */
import { readBoundedBody } from "./bytes.js";
import { NoiseArgumentError, NoiseError, NoiseTransportError } from "./errors.js";

export interface RawNoiseResponse {
  status: number;
  contentType: string | null;
  body: Uint8Array;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE = 16 * 1024 * 1024;

/** One POST as a transport hook receives it (`PostOptions.post`). */
export interface NoisePostRequest {
  url: string;
  headers: Readonly<Record<string, string>>;
  body: Uint8Array;
  /** The whole exchange's deadline, ms (positive, finite). */
  timeoutMs: number;
  /** Largest response body to accept. */
  maxResponseBytes: number;
  signal?: AbortSignal | undefined;
}

/**
 * A transport hook: sends one POST and resolves to its status, content type and (for a 200) its
 * body. It owns the deadline, the caller's abort and the body bound, and rejects with a
 * NoiseTransportError: `timeout`, `aborted`, `network` or `response_too_large`. A non-200 answer
 * resolves with an empty body. It lets a client skip the `fetch` shape (a WHATWG Response, an
 * AbortController and its listeners per call).
 */
export type NoisePost = (req: NoisePostRequest) => Promise<RawNoiseResponse>;

export interface PostOptions {
  fetch?: typeof fetch | undefined;
  /** A transport hook; when set, `fetch` is not used. */
  post?: NoisePost | undefined;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  maxResponseBytes?: number | undefined;
}

/**
 * One POST with a timeout and a bounded body read. Network failures, timeouts and aborts become
 * NoiseTransportError; any status is returned (a non-200 body is not read).
 */
export async function postNoise(
  url: string,
  headers: Readonly<Record<string, string>>,
  body: Uint8Array,
  opts: PostOptions,
): Promise<RawNoiseResponse> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new NoiseArgumentError("timeoutMs must be positive");
  if (opts.post !== undefined) {
    const maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
    try {
      return await opts.post({ url, headers, body, timeoutMs, maxResponseBytes, signal: opts.signal });
    } catch (cause) {
      if (cause instanceof NoiseError) throw cause;
      throw new NoiseTransportError("network", "request failed", { cause });
    }
  }
  const doFetch = opts.fetch ?? globalThis.fetch;
  if (typeof doFetch !== "function") throw new NoiseArgumentError("no fetch implementation");
  // One controller and a plain timer: AbortSignal.timeout + AbortSignal.any cost ~0.5 ms per call
  // on Node 20, a quarter of a loopback RPC.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error("timeout"));
  }, timeoutMs);
  const onAbort = () => controller.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });
  const signal = controller.signal;
  const aborted = (cause: unknown): NoiseTransportError =>
    timedOut
      ? new NoiseTransportError("timeout", `no response within ${timeoutMs} ms`, { cause })
      : new NoiseTransportError("aborted", "request aborted by the caller", { cause });

  let res: Response;
  let resBody: Uint8Array;
  try {
    try {
      res = await doFetch(url, { method: "POST", headers: { ...headers }, body, signal });
    } catch (cause) {
      if (signal.aborted) throw aborted(cause);
      throw new NoiseTransportError("network", "request failed", { cause });
    }
    try {
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        resBody = new Uint8Array(0);
      } else {
        resBody = await readBody(res, opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE);
      }
    } catch (cause) {
      if (cause instanceof NoiseError) throw cause;
      if (signal.aborted) throw aborted(cause);
      throw new NoiseTransportError("network", "reading the response failed", { cause, status: res.status });
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
  return { status: res.status, contentType: res.headers.get("content-type"), body: resBody };
}

async function readBody(res: Response, max: number): Promise<Uint8Array> {
  const body = await readBoundedBody(res, max);
  if (body === null)
    throw new NoiseTransportError("response_too_large", `response body over ${max} bytes`, {
      status: res.status,
    });
  return body;
}
