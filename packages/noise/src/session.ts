/**
 * HTTP/Noise session mode: the framing shared by client and server (README "Session mode").
 *
 * A session opens with a handshake in the api's own pattern on `POST /noise/v1/<api>/session`
 * whose message 1 carries no request arguments; message 2 returns a random server-chosen session
 * id. Every later RPC is one Noise transport message, so its payload is protected by keys that
 * depend on both ephemerals (forward secret), unlike a message 1 payload:
 *
 *   POST /noise/v1/<api>/<op>
 *   Content-Type: application/x-noise
 *   Noise-Server-Key: <kid_s>
 *   Noise-Session: <session id, 16 bytes base64url>
 *   body: u64be n || ChaChaPoly(c1, nonce n, ad, request JSON)
 *
 *   200 body: frames; frame i = ChaChaPoly(c2, nonce n·2^16 + i, ad, part i of the response JSON)
 *   ad = u16be-length-prefixed "tkdb-noise/1 session", "POST", path, kid_s, session id
 *
 * HTTP requests can arrive out of order, so nonces are explicit (CipherState.setNonce), never the
 * implicit counter: the receiver keeps a sliding anti-replay window over n (RFC 6479 style).
 */
import { concatBytes, fromBase64Url, utf8 } from "./bytes.js";
import { NoiseArgumentError } from "./errors.js";

export const NOISE_SESSION_HEADER = "Noise-Session";
/** The op name that opens a session; reserved, no app op may use it. */
export const SESSION_OP = "session";
export const SESSION_LABEL = "tkdb-noise/1 session";
/** Status for an unknown, expired or used-up session: the client re-handshakes and resends. */
export const SESSION_GONE_STATUS = 410;
/** Request counters are below 2^48 so that n·2^16 + frame index stays below 2^64 − 1. */
export const SESSION_COUNTER_LIMIT = 1n << 48n;
/** A response has at most 2^16 frames (about 4 GiB; responses are capped far below). */
export const SESSION_MAX_FRAMES = 1 << 16;
/** Width of the anti-replay window, in messages. */
export const REPLAY_WINDOW_BITS = 4096;

/** The associated data of every transport message of one RPC in a session. */
export function sessionAd(path: string, kid: string, sessionId: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of [SESSION_LABEL, "POST", path, kid, sessionId].map(utf8)) {
    if (f.length > 0xffff) throw new NoiseArgumentError("session AD field too long");
    parts.push(Uint8Array.of(f.length >> 8, f.length & 0xff), f);
  }
  return concatBytes(...parts);
}

/** The responder's nonce for frame `i` of the answer to request `n`. */
export function responseNonce(n: bigint, i: number): bigint {
  return (n << 16n) | BigInt(i);
}

export function encodeCounter(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, false);
  return out;
}

export function decodeCounter(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, false);
}

/** A session id header value: canonical base64url of exactly 16 bytes. */
export function isValidSessionId(id: unknown): id is string {
  if (typeof id !== "string" || id.length !== 22) return false;
  const b = fromBase64Url(id);
  return b !== null && b.length === 16;
}

/**
 * Sliding anti-replay window (RFC 6479 §2 / RFC 4303 §3.4.3 idea): accepts each counter at most
 * once, in any order, as long as it is within `REPLAY_WINDOW_BITS` of the highest one accepted.
 * `check` is a cheap pre-filter before decryption; `commit` records a counter only after its
 * message authenticated, so forged messages never move the window.
 */
export class ReplayWindow {
  #top = -1n;
  #bits = 0n;
  readonly #width: bigint;
  readonly #mask: bigint;

  constructor(width: number = REPLAY_WINDOW_BITS) {
    this.#width = BigInt(width);
    this.#mask = (1n << this.#width) - 1n;
  }

  check(n: bigint): "ok" | "replay" | "too_old" {
    if (n > this.#top) return "ok";
    const d = this.#top - n;
    if (d >= this.#width) return "too_old";
    return (this.#bits >> d) & 1n ? "replay" : "ok";
  }

  commit(n: bigint): void {
    if (n > this.#top) {
      const shift = n - this.#top;
      this.#bits = shift >= this.#width ? 1n : ((this.#bits << shift) | 1n) & this.#mask;
      this.#top = n;
    } else {
      this.#bits |= 1n << (this.#top - n);
    }
  }
}
