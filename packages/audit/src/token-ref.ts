/**
 * How an event names a token without holding it (issue 14: "name a token by its nonce and a hash
 * of its tail").
 *
 * - `nonce`: the token's Fly nonce, msgpack `[kid, rnd]` or `[kid, rnd, proof]`, as standard
 *   base64 with padding (tkdb's `nonceId`, what `token revoke` and the revocation feed use). A
 *   permission token's nonce is public: the revocation feed publishes nonces. A discharge's is not
 *   quite: its kid IS the third-party ticket, the discharge key sealed under the shared third-party
 *   key. So a proof nonce (and any nonce whose kid is over 64 bytes) is named by
 *   `sha256:<hex of SHA-256 of the nonce bytes>` instead: joinable across tkdb's and petsem's logs,
 *   useless to anyone holding the shared key.
 * - `tail_sha256_prefix`: the first 16 bytes (32 hex digits) of SHA-256 of the 32-byte tail. The
 *   tail is the token's signature and, with its public caveats, the token itself; its hash is not
 *   (and SHA-256 of a tail is what Fly's bind caveats already publish).
 */
import { sha256Hex } from "./crypto.js";
import { AuditError } from "./errors.js";

export interface TokenRef {
  readonly nonce: string;
  readonly tail_sha256_prefix: string;
}

const MAX_PLAIN_KID = 64;
const HASHED_REF = /^sha256:[0-9a-f]{64}$/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface ParsedNonce {
  readonly kidLength: number;
  readonly proof: boolean;
}

function bad(what: string): never {
  throw new AuditError("invalid_request", `${what} is not the base64 of a canonical Fly nonce`);
}

/** Reads one canonical (shortest-form) msgpack bin at `at`: [length, next offset]. */
function readBin(b: Uint8Array, at: number, what: string): [number, number] {
  const tag = b[at];
  let len: number;
  let start: number;
  if (tag === 0xc4 && at + 1 < b.length) [len, start] = [b[at + 1] as number, at + 2];
  else if (tag === 0xc5 && at + 2 < b.length) {
    [len, start] = [((b[at + 1] as number) << 8) | (b[at + 2] as number), at + 3];
    if (len < 0x100) bad(what);
  } else bad(what);
  if (start + len > b.length) bad(what);
  return [len, start + len];
}

/** Structure of a Fly nonce (superfly/macaroon nonce.go), checked byte for byte. */
function parseNonceBytes(b: Uint8Array, what: string): ParsedNonce {
  const fields = b[0] === 0x93 ? 3 : b[0] === 0x92 ? 2 : bad(what);
  const [kidLength, afterKid] = readBin(b, 1, what);
  const [rndLength, afterRnd] = readBin(b, afterKid, what);
  if (kidLength === 0 || rndLength === 0 || rndLength > 64) bad(what);
  let proof = false;
  let end = afterRnd;
  if (fields === 3) {
    const flag = b[afterRnd];
    if (flag !== 0xc2 && flag !== 0xc3) bad(what);
    proof = flag === 0xc3;
    end += 1;
  }
  if (end !== b.length) bad(what);
  return { kidLength, proof };
}

function decodeNonce(nonceB64: unknown, what: string): { bytes: Uint8Array; parsed: ParsedNonce } {
  if (typeof nonceB64 !== "string" || nonceB64.length === 0 || nonceB64.length > 8192 || !B64.test(nonceB64))
    bad(what);
  const bytes = new Uint8Array(Buffer.from(nonceB64, "base64"));
  if (Buffer.from(bytes).toString("base64") !== nonceB64) bad(what);
  return { bytes, parsed: parseNonceBytes(bytes, what) };
}

/** The `nonce` value for a token's nonce (base64), hashed when it is a discharge's (see above). */
export function nonceRef(nonceB64: string): string {
  const { bytes, parsed } = decodeNonce(nonceB64, "nonce");
  if (parsed.proof || parsed.kidLength > MAX_PLAIN_KID) return `sha256:${sha256Hex(bytes)}`;
  return nonceB64;
}

/** `{nonce, tail_sha256_prefix}` for a token: its nonce (base64) and its 32-byte tail. */
export function tokenRef(nonceB64: string, tail: Uint8Array): TokenRef {
  if (!(tail instanceof Uint8Array) || tail.length !== 32)
    throw new AuditError("invalid_request", "tail must be the token's 32-byte tail");
  return { nonce: nonceRef(nonceB64), tail_sha256_prefix: sha256Hex(tail).slice(0, 32) };
}

/** True if `s` is a value `nonceRef` can return: what the event schema accepts in a nonce field. */
export function isNonceRef(s: unknown): s is string {
  if (typeof s !== "string") return false;
  if (s.startsWith("sha256:")) return HASHED_REF.test(s);
  try {
    const { parsed } = decodeNonce(s, "nonce");
    return !parsed.proof && parsed.kidLength <= MAX_PLAIN_KID;
  } catch {
    return false;
  }
}
