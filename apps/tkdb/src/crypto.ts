/**
 * The only file of tkdb that calls cryptography (token crypto lives in @tkdb/macaroon, Noise in
 * @tkdb/noise). Primitives, fixed: ChaCha20-Poly1305 (RFC 8439) with a random 96-bit nonce to
 * seal root keys under the key-encryption key (KEK), SHA-256 for the audit hash chain, a CSPRNG,
 * HKDF-SHA256 for subkeys of the KEK and HMAC-SHA256 for keyed fingerprints.
 * Two backends with the same interface: node:crypto ("native") and @noble ("noble").
 *
 * Idempotency records (a duplicate request gets the stored result back) hold no cleartext: the
 * result is sealed under `HKDF(KEK, "tkdb/idempotency-seal/v1")` with AAD = client key ‖ rid ‖ op,
 * and the request is remembered by `HMAC(HKDF(KEK, "tkdb/idempotency-fingerprint/v1"), client key
 * ‖ rid ‖ op ‖ canonical args)`: an unkeyed hash of strip's arguments would be a hash of a token,
 * which anyone could confirm a guess against; a keyed one says nothing without the KEK.
 */
import * as nodeCrypto from "node:crypto";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { randomBytes as nobleRandom } from "@noble/hashes/utils.js";
import { getNative } from "@tkdb/noise";
import { TkdbError } from "./errors.js";

export interface Primitives {
  readonly name: "native" | "noble";
  random(n: number): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF-SHA256 (RFC 5869), empty salt. */
  hkdfSha256(ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** nonce(12) ‖ ciphertext ‖ tag(16). */
  aeadSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Throws on any authentication failure. */
  aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array;
}

const TAG = 16;
const NONCE = 12;

export const native: Primitives = {
  name: "native",
  random: (n) => new Uint8Array(nodeCrypto.randomBytes(n)),
  sha256: (d) => new Uint8Array(nodeCrypto.createHash("sha256").update(d).digest()),
  hmacSha256: (k, d) => new Uint8Array(nodeCrypto.createHmac("sha256", k).update(d).digest()),
  hkdfSha256: (ikm, info, length) =>
    new Uint8Array(nodeCrypto.hkdfSync("sha256", ikm, new Uint8Array(0), info, length)),
  aeadSeal(key, nonce, plain, aad) {
    const c = nodeCrypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
    c.setAAD(aad, { plaintextLength: plain.length });
    const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    return new Uint8Array(ct);
  },
  aeadOpen(key, nonce, sealed, aad) {
    if (sealed.length < TAG) throw new Error("short");
    const d = nodeCrypto.createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
    d.setAAD(aad, { plaintextLength: sealed.length - TAG });
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    return new Uint8Array(Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]));
  },
};

export const noble: Primitives = {
  name: "noble",
  random: (n) => nobleRandom(n),
  sha256: (d) => nobleSha256(d),
  hmacSha256: (k, d) => nobleHmac(nobleSha256, k, d),
  hkdfSha256: (ikm, info, length) => nobleHkdf(nobleSha256, ikm, new Uint8Array(0), info, length),
  aeadSeal: (key, nonce, plain, aad) => chacha20poly1305(key, nonce, aad).encrypt(plain),
  aeadOpen: (key, nonce, sealed, aad) => chacha20poly1305(key, nonce, aad).decrypt(sealed),
};

export const backends: readonly Primitives[] = [native, noble];

const enc = new TextEncoder();

/** AAD binds a sealed root key to its org and kid: a row copied to another org fails to open. */
function rootKeyAad(org: string, kid: Uint8Array): Uint8Array {
  const o = enc.encode(`tkdb/root-key/v1\0${org}\0`);
  const out = new Uint8Array(o.length + kid.length);
  out.set(o);
  out.set(kid, o.length);
  return out;
}

function assertKek(kek: Uint8Array): void {
  if (!(kek instanceof Uint8Array) || kek.length !== 32)
    throw new TkdbError("config", "KEK must be 32 bytes");
}

export function sealRootKey(p: Primitives, kek: Uint8Array, org: string, kid: Uint8Array, key: Uint8Array) {
  assertKek(kek);
  const nonce = p.random(NONCE);
  const ct = p.aeadSeal(kek, nonce, key, rootKeyAad(org, kid));
  const out = new Uint8Array(NONCE + ct.length);
  out.set(nonce);
  out.set(ct, NONCE);
  return out;
}

export function unsealRootKey(
  p: Primitives,
  kek: Uint8Array,
  org: string,
  kid: Uint8Array,
  sealed: Uint8Array,
): Uint8Array {
  assertKek(kek);
  try {
    return p.aeadOpen(kek, sealed.subarray(0, NONCE), sealed.subarray(NONCE), rootKeyAad(org, kid));
  } catch (cause) {
    throw new TkdbError("corrupt", `root key of org ${org} does not open with this KEK`, { cause });
  }
}

const CHECK_AAD = enc.encode("tkdb/kek-check/v1");

/** A value sealed under the KEK at first start; opening it later proves the KEK is the same one. */
export function kekCheckValue(p: Primitives, kek: Uint8Array): Uint8Array {
  assertKek(kek);
  const nonce = p.random(NONCE);
  const ct = p.aeadSeal(kek, nonce, new Uint8Array(0), CHECK_AAD);
  const out = new Uint8Array(NONCE + ct.length);
  out.set(nonce);
  out.set(ct, NONCE);
  return out;
}

export function checkKek(p: Primitives, kek: Uint8Array, check: Uint8Array): boolean {
  assertKek(kek);
  try {
    p.aeadOpen(kek, check.subarray(0, NONCE), check.subarray(NONCE), CHECK_AAD);
    return true;
  } catch {
    return false;
  }
}

// ---- idempotency records: sealed results and keyed fingerprints --------------------------------

export interface IdempotencyKeys {
  /** ChaCha20-Poly1305 key for stored results. */
  seal: Uint8Array;
  /** HMAC-SHA256 key for request fingerprints. */
  fingerprint: Uint8Array;
}

/** The two subkeys of the KEK for idempotency records (HKDF-SHA256, distinct labels). */
export function idempotencyKeys(p: Primitives, kek: Uint8Array): IdempotencyKeys {
  assertKek(kek);
  return {
    seal: p.hkdfSha256(kek, enc.encode("tkdb/idempotency-seal/v1"), 32),
    fingerprint: p.hkdfSha256(kek, enc.encode("tkdb/idempotency-fingerprint/v1"), 32),
  };
}

/** NUL-separated, length-prefixed parts: no two different part lists share an encoding. */
function framed(label: string, parts: readonly string[]): Uint8Array {
  const chunks = [label, ...parts].map((x) => enc.encode(x));
  const out = new Uint8Array(chunks.reduce((n, c) => n + 4 + c.length, 0));
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const c of chunks) {
    dv.setUint32(o, c.length);
    out.set(c, o + 4);
    o += 4 + c.length;
  }
  return out;
}

/** Deepest nesting of request arguments that is fingerprinted; deeper is a typed refusal. */
export const MAX_ARGS_DEPTH = 32;

/**
 * Canonical JSON of a request's arguments: object keys sorted (by UTF-16 code units, as
 * Array.prototype.sort does), no whitespace. Only JSON values occur (the args were JSON-parsed).
 * Nesting deeper than MAX_ARGS_DEPTH is refused (`bad_request`): the fingerprint is computed
 * before the arguments are validated, and unbounded recursion would overflow the stack.
 */
export function canonicalJSON(v: unknown, depth = 0): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (depth >= MAX_ARGS_DEPTH)
    throw new TkdbError("bad_request", `arguments are nested deeper than ${MAX_ARGS_DEPTH} levels`);
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJSON(x, depth + 1)).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJSON(o[k], depth + 1)}`)
    .join(",")}}`;
}

/** Keyed fingerprint of (client key, rid, op, canonical args). */
export function requestFingerprint(
  p: Primitives,
  keys: IdempotencyKeys,
  clientKey: string,
  rid: string,
  op: string,
  args: unknown,
): Uint8Array {
  return p.hmacSha256(
    keys.fingerprint,
    framed("tkdb/idempotency-fingerprint/v1", [clientKey, rid, op, canonicalJSON(args)]),
  );
}

/** Seals a result (its JSON text) under the seal subkey, bound to client key, rid and op. */
export function sealResult(
  p: Primitives,
  keys: IdempotencyKeys,
  clientKey: string,
  rid: string,
  op: string,
  json: string,
): Uint8Array {
  const nonce = p.random(NONCE);
  const ct = p.aeadSeal(
    keys.seal,
    nonce,
    enc.encode(json),
    framed("tkdb/idempotency-seal/v1", [clientKey, rid, op]),
  );
  const out = new Uint8Array(NONCE + ct.length);
  out.set(nonce);
  out.set(ct, NONCE);
  return out;
}

export function openResult(
  p: Primitives,
  keys: IdempotencyKeys,
  clientKey: string,
  rid: string,
  op: string,
  sealed: Uint8Array,
): string {
  try {
    const plain = p.aeadOpen(
      keys.seal,
      sealed.subarray(0, NONCE),
      sealed.subarray(NONCE),
      framed("tkdb/idempotency-seal/v1", [clientKey, rid, op]),
    );
    return new TextDecoder("utf-8", { fatal: true }).decode(plain);
  } catch (cause) {
    throw new TkdbError("corrupt", "a stored idempotency record does not open with this KEK", { cause });
  }
}

export function randomBytes(n: number, p: Primitives = native): Uint8Array {
  return p.random(n);
}

export function sha256Hex(data: string, p: Primitives = native): string {
  return Buffer.from(p.sha256(enc.encode(data))).toString("hex");
}

/** X25519 key pair for the Noise static key (keygen). */
export function x25519KeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const nc = getNative();
  if (nc === undefined) throw new TkdbError("config", "node:crypto X25519 is unavailable");
  return nc.generateKeyPair();
}

/** Constant-time equality on bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && nodeCrypto.timingSafeEqual(a, b);
}
