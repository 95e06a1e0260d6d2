/**
 * The only file of @tkdb/service that calls cryptography (STYLE.md habit 1, superfly/macaroon
 * `crypto.go`). Nothing else in this package imports node:crypto or @noble/*.
 *
 * Primitives, fixed (callers pass keys and bytes, never an algorithm):
 * - AEAD: ChaCha20-Poly1305 (RFC 8439 §2.8), 96-bit random nonces, 128-bit tags. It seals every
 *   KEK-wrapped field (keyring.ts). Why this AEAD: tkdb already seals root keys with it; it is
 *   constant time in software on any CPU (AES-GCM needs AES-NI/PMULL for that); and node:crypto
 *   (OpenSSL) runs it natively. Random 96-bit nonces are safe here because every purpose has its
 *   own subkey and the volume per subkey is small (keys, idempotency records): the chance of a
 *   nonce collision stays under 2^-32 up to 2^32 seals per subkey, and a rotation starts fresh
 *   subkeys. XChaCha20 (192-bit nonces) would need @noble/ciphers, which this server-only
 *   package does not depend on; services run on Node, so node:crypto is the one backend (the
 *   known-answer tests pin it to the RFC vectors, and the legacy fixtures were made by the
 *   @noble-backed code of bea118d).
 * - KDF: HKDF-SHA256 (RFC 5869), empty salt (the KEK is already uniformly random, RFC 5869 §3.1),
 *   one `info` label per purpose, so each purpose has an independent key (RFC 5869 §3.2).
 * - MAC: HMAC-SHA256 (RFC 2104) for keyed fingerprints.
 * - Comparison: constant time on bytes (lengths are public).
 * - Legacy (open only): AES-256-GCM (NIST SP 800-38D), which petsem used at bea118d.
 */
import * as nodeCrypto from "node:crypto";

export const KEY_LEN = 32;
export const NONCE_LEN = 12;
export const TAG_LEN = 16;
export const MAC_LEN = 32;

/** A caller passed bytes of the wrong type or size. Messages name the argument, never its value. */
export class CryptoArgumentError extends TypeError {
  override readonly name = "CryptoArgumentError";
  readonly code = "invalid_request";
}

/** noble-hashes `abytes`: asserts a Uint8Array (of `length` bytes when given), naming the argument. */
export function abytes(
  value: unknown,
  length: number | undefined,
  title: string,
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new CryptoArgumentError(`${title} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new CryptoArgumentError(`${title} must be ${length} bytes`);
  }
}

/** CSPRNG bytes (OpenSSL's RAND_bytes through node:crypto). */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > 65536) throw new CryptoArgumentError("n must be 0..65536");
  return new Uint8Array(nodeCrypto.randomBytes(n));
}

/**
 * Constant-time equality on bytes: the one comparison both apps use for MACs, kids and keys.
 * Different lengths return false at once (a length is never the secret here).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  abytes(a, undefined, "a");
  abytes(b, undefined, "b");
  return a.length === b.length && nodeCrypto.timingSafeEqual(a, b);
}

/** Overwrites key material we hold. Best effort: JS may have copied it; nothing can promise erasure. */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

/** RFC 5869 HKDF-SHA256 with an empty salt (§2.2: an absent salt is HashLen zero bytes). */
export function hkdfSha256(ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  abytes(ikm, undefined, "ikm");
  abytes(info, undefined, "info");
  if (ikm.length < 16) throw new CryptoArgumentError("ikm must be at least 16 bytes");
  if (!Number.isSafeInteger(length) || length < 1 || length > 255 * 32) {
    throw new CryptoArgumentError("length must be 1..8160");
  }
  return new Uint8Array(nodeCrypto.hkdfSync("sha256", ikm, new Uint8Array(0), info, length));
}

/** RFC 2104 HMAC-SHA256. */
export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  abytes(key, undefined, "key");
  abytes(msg, undefined, "msg");
  if (key.length < 16) throw new CryptoArgumentError("key must be at least 16 bytes");
  return new Uint8Array(nodeCrypto.createHmac("sha256", key).update(msg).digest());
}

/** A fresh random nonce for `aeadSeal`. */
export function newNonce(): Uint8Array {
  return randomBytes(NONCE_LEN);
}

/** RFC 8439 §2.8 AEAD_CHACHA20_POLY1305 encrypt: returns ciphertext ‖ tag(16). */
export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  abytes(key, KEY_LEN, "key");
  abytes(nonce, NONCE_LEN, "nonce");
  abytes(plaintext, undefined, "plaintext");
  abytes(aad, undefined, "aad");
  const c = nodeCrypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_LEN });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  return ownBytes(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]));
}

/**
 * RFC 8439 §2.8 decrypt of ciphertext ‖ tag. Returns null on any authentication failure, and never
 * any plaintext in that case (the unauthenticated output of `update` is wiped).
 */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  abytes(key, KEY_LEN, "key");
  abytes(nonce, NONCE_LEN, "nonce");
  abytes(sealed, undefined, "sealed");
  abytes(aad, undefined, "aad");
  if (sealed.length < TAG_LEN) return null;
  const body = sealed.subarray(0, sealed.length - TAG_LEN);
  const d = nodeCrypto.createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_LEN });
  d.setAAD(aad, { plaintextLength: body.length });
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
  return finishOpen(d, body);
}

/**
 * AES-256-GCM decrypt (SP 800-38D §7.2) of ciphertext ‖ tag(16): open-only, for petsem's bea118d
 * wrapped keys and sealed values. Null on any authentication failure.
 */
export function legacyAesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  abytes(key, KEY_LEN, "key");
  abytes(nonce, NONCE_LEN, "nonce");
  abytes(sealed, undefined, "sealed");
  abytes(aad, undefined, "aad");
  if (sealed.length < TAG_LEN) return null;
  const d = nodeCrypto.createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_LEN });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
  return finishOpen(d, sealed.subarray(0, sealed.length - TAG_LEN));
}

function finishOpen(
  d: nodeCrypto.DecipherGCM | nodeCrypto.DecipherChaCha20Poly1305,
  body: Uint8Array,
): Uint8Array | null {
  const head = d.update(body);
  try {
    return ownBytes(Buffer.concat([head, d.final()]));
  } catch {
    return null;
  } finally {
    head.fill(0);
  }
}

/**
 * Copies a Buffer into a Uint8Array of its own and wipes the Buffer: small Buffers live in Node's
 * shared pool, so a view would expose neighbouring bytes through `.buffer` and outlive a wipe.
 */
function ownBytes(b: Buffer): Uint8Array {
  const out = new Uint8Array(b);
  b.fill(0);
  return out;
}
