/**
 * HTTP/Noise framing shared by client and server (DESIGN.md "HTTP/Noise framing", normative):
 *
 *   POST /noise/v1/<api>/<op>            api ∈ verify | sign | secrets
 *   Content-Type: application/x-noise
 *   Noise-Server-Key: <kid_s>            hex(BLAKE2s(server static public key))[0:16]
 *   Noise-Client-Key: <base64url key>    KK only
 *   body: handshake message 1 (≤ 65535 bytes)
 *
 * Response body: frames (u16 big-endian length, Noise message): message 2, then transport
 * messages responder→initiator. The response plaintext is the concatenation of their payloads.
 */
import { concatBytes, fromBase64Url, fromUtf8, toBase64Url, toHex, utf8 } from "./bytes.js";
import { type BackendName, type NoiseCrypto, resolveBackend } from "./crypto.js";
import { NoiseArgumentError } from "./errors.js";

export const NOISE_IK = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
export const NOISE_KK = "Noise_KK_25519_ChaChaPoly_BLAKE2s";
export const NOISE_CONTENT_TYPE = "application/x-noise";
export const NOISE_SERVER_KEY_HEADER = "Noise-Server-Key";
export const NOISE_CLIENT_KEY_HEADER = "Noise-Client-Key";
export const PROLOGUE_LABEL = "tkdb-noise/1";
export const NOISE_APIS = ["verify", "sign", "secrets"] as const;

export type NoiseApi = (typeof NOISE_APIS)[number];
export type NoisePattern = "IK" | "KK";

/** Max payload of message 2 (48 bytes of e + tag) and of a transport message (tag). */
export const MSG2_MAX_PAYLOAD = 65535 - 48;
export const TRANSPORT_MAX_PAYLOAD = 65535 - 16;

const OP_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function protocolNameFor(pattern: NoisePattern): string {
  if (pattern === "IK") return NOISE_IK;
  if (pattern === "KK") return NOISE_KK;
  throw new NoiseArgumentError('pattern must be "IK" or "KK"');
}

export function isNoiseApi(api: unknown): api is NoiseApi {
  return typeof api === "string" && (NOISE_APIS as readonly string[]).includes(api);
}

export function isValidOp(op: unknown): op is string {
  return typeof op === "string" && OP_RE.test(op);
}

export function isValidTraceparent(tp: unknown): tp is string {
  return typeof tp === "string" && TRACEPARENT_RE.test(tp) && !tp.startsWith("ff");
}

/** `/noise/v1/<api>/<op>`. */
export function noisePath(api: NoiseApi, op: string): string {
  if (!isNoiseApi(api)) throw new NoiseArgumentError("api must be verify, sign or secrets");
  if (!isValidOp(op)) throw new NoiseArgumentError("op must match [A-Za-z][A-Za-z0-9_.-]{0,63}");
  return `/noise/v1/${api}/${op}`;
}

/** kid_s = hex(BLAKE2s(server static public key))[0:16]. */
export function keyId(serverPublicKey: Uint8Array, backend?: BackendName | NoiseCrypto): string {
  if (!(serverPublicKey instanceof Uint8Array) || serverPublicKey.length !== 32) {
    throw new NoiseArgumentError("serverPublicKey must be 32 bytes");
  }
  return toHex(resolveBackend(backend).hash("BLAKE2s", serverPublicKey)).slice(0, 16);
}

/** Prologue: u16be-length-prefixed "tkdb-noise/1", "POST", path, kid_s, client key header value. */
export function buildPrologue(path: string, kid: string, clientKeyHeader: string): Uint8Array {
  const fields = [PROLOGUE_LABEL, "POST", path, kid, clientKeyHeader].map(utf8);
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    if (f.length > 0xffff) throw new NoiseArgumentError("prologue field too long");
    parts.push(Uint8Array.of(f.length >> 8, f.length & 0xff), f);
  }
  return concatBytes(...parts);
}

/** Encode one frame: u16be length, then the Noise message. */
export function encodeFrame(message: Uint8Array): Uint8Array {
  if (message.length > 0xffff) throw new NoiseArgumentError("frame too long");
  const out = new Uint8Array(2 + message.length);
  out[0] = message.length >> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}

/** Split a body into frames; null when the body is not an exact sequence of frames. */
export function decodeFrames(body: Uint8Array): Uint8Array[] | null {
  const frames: Uint8Array[] = [];
  let off = 0;
  while (off < body.length) {
    if (off + 2 > body.length) return null;
    const len = ((body[off] as number) << 8) | (body[off + 1] as number);
    off += 2;
    if (off + len > body.length) return null;
    frames.push(body.subarray(off, off + len));
    off += len;
  }
  return frames;
}

/** A 16-byte request id, base64url (22 characters). */
export function isValidRid(rid: unknown): rid is string {
  if (typeof rid !== "string" || rid.length !== 22) return false;
  const b = fromBase64Url(rid);
  return b !== null && b.length === 16;
}

export function newRid(backend: NoiseCrypto): string {
  return toBase64Url(backend.randomBytes(16));
}

export interface RequestPayload {
  v: 1;
  op: string;
  ts: number;
  rid: string;
  args: Record<string, unknown>;
  tp?: string;
  /**
   * Session mode only: the client's last message on this session (a one-shot session, noiseCall's
   * default). The server closes the session once it has answered, instead of holding it until its
   * idle TTL. Inside the AEAD like every field, so nobody else can set it.
   */
  end?: true;
}

/**
 * A refusal on the wire: `code` and `message`, and optionally `alias` (an old name of the same
 * code, for clients that still match it) and `details` (non-secret facts such as a current version
 * or the primary's address; the service allow-lists them before sending).
 */
export interface ErrorBody {
  code: string;
  message: string;
  alias?: string;
  details?: Record<string, string | number | boolean>;
}

export type ResponsePayload =
  | { v: 1; rid: string; ok: true; result: unknown }
  | { v: 1; rid: string; ok: false; error: ErrorBody };

const ALIAS_RE = /^[a-z][a-z0-9_]{0,63}$/;
const DETAIL_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * The optional `alias` and `details` of an error (thrown by an op, or parsed from a response),
 * checked for shape: an alias is a code-shaped string, details at most 16 entries of a string (up
 * to 512 characters), a finite number or a boolean. Anything else is left out.
 */
export function errorExtras(x: unknown): Pick<ErrorBody, "alias" | "details"> {
  if (typeof x !== "object" || x === null) return {};
  const { alias, details } = x as { alias?: unknown; details?: unknown };
  const out: Pick<ErrorBody, "alias" | "details"> = {};
  if (typeof alias === "string" && ALIAS_RE.test(alias)) out.alias = alias;
  if (isPlainObject(details)) {
    const kept: Record<string, string | number | boolean> = {};
    let n = 0;
    for (const [k, v] of Object.entries(details)) {
      if (n >= 16 || !DETAIL_KEY_RE.test(k)) continue;
      const ok =
        (typeof v === "string" && v.length <= 512) ||
        (typeof v === "number" && Number.isFinite(v)) ||
        typeof v === "boolean";
      if (!ok) continue;
      kept[k] = v as string | number | boolean;
      n += 1;
    }
    if (n > 0) out.details = kept;
  }
  return out;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Parse the decrypted msg1 payload; a string naming the problem when it is not a valid request. */
export function parseRequestPayload(bytes: Uint8Array): RequestPayload | string {
  let x: unknown;
  try {
    x = JSON.parse(fromUtf8(bytes));
  } catch {
    return "request is not UTF-8 JSON";
  }
  if (!isPlainObject(x)) return "request is not a JSON object";
  if (x.v !== 1) return "unsupported request version";
  if (!isValidOp(x.op)) return "invalid op";
  if (typeof x.ts !== "number" || !Number.isSafeInteger(x.ts)) return "invalid ts";
  if (!isValidRid(x.rid)) return "invalid rid";
  if (!isPlainObject(x.args)) return "args must be an object";
  if (x.tp !== undefined && typeof x.tp !== "string") return "invalid tp";
  if (x.end !== undefined && x.end !== true) return "invalid end";
  const out: RequestPayload = { v: 1, op: x.op, ts: x.ts, rid: x.rid, args: x.args };
  if (isValidTraceparent(x.tp)) out.tp = x.tp;
  if (x.end === true) out.end = true;
  return out;
}

export interface SessionOpenPayload {
  v: 1;
  op: "session";
  ts: number;
  rid: string;
  tp?: string;
}

/**
 * Parse the message 1 payload that opens a session: `{"v":1,"op":"session","ts":…,"rid":…}` and
 * optionally `tp`. It must carry no `args` (message 1 is not forward secret), and nothing else.
 */
export function parseSessionOpenPayload(bytes: Uint8Array): SessionOpenPayload | string {
  let x: unknown;
  try {
    x = JSON.parse(fromUtf8(bytes));
  } catch {
    return "request is not UTF-8 JSON";
  }
  if (!isPlainObject(x)) return "request is not a JSON object";
  if (x.v !== 1) return "unsupported request version";
  if (x.op !== "session") return "invalid op";
  for (const k of Object.keys(x)) {
    if (!["v", "op", "ts", "rid", "tp"].includes(k)) return "a session open carries no arguments";
  }
  if (typeof x.ts !== "number" || !Number.isSafeInteger(x.ts)) return "invalid ts";
  if (!isValidRid(x.rid)) return "invalid rid";
  if (x.tp !== undefined && typeof x.tp !== "string") return "invalid tp";
  const out: SessionOpenPayload = { v: 1, op: "session", ts: x.ts, rid: x.rid };
  if (isValidTraceparent(x.tp)) out.tp = x.tp;
  return out;
}

/** Parse the concatenated response plaintext; null when it is not a valid response. */
export function parseResponsePayload(bytes: Uint8Array): ResponsePayload | null {
  let x: unknown;
  try {
    x = JSON.parse(fromUtf8(bytes));
  } catch {
    return null;
  }
  if (!isPlainObject(x) || x.v !== 1 || typeof x.rid !== "string") return null;
  if (x.ok === true && "result" in x) return { v: 1, rid: x.rid, ok: true, result: x.result };
  if (x.ok === false && isPlainObject(x.error)) {
    const { code, message } = x.error;
    if (typeof code === "string" && typeof message === "string") {
      return { v: 1, rid: x.rid, ok: false, error: { code, message, ...errorExtras(x.error) } };
    }
  }
  return null;
}

/** Base64url (unpadded) of a client static public key, as in the Noise-Client-Key header. */
export function encodeClientKey(publicKey: Uint8Array): string {
  return toBase64Url(publicKey);
}

/** Decode a Noise-Client-Key header value; null unless it is canonical base64url of 32 bytes. */
export function decodeClientKey(header: string): Uint8Array | null {
  const b = fromBase64Url(header);
  return b !== null && b.length === 32 ? b : null;
}
