/**
 * All cryptography of @tkdb/macaroon, in one file (superfly/macaroon `crypto.go`).
 *
 * Primitives, fixed by Fly's format (no parameters):
 * - MAC:  HMAC-SHA256 (RFC 2104, FIPS 180-4), raw 32-byte keys, no key derivation.
 * - Hash: SHA-256 (binding IDs, nonce UUIDs go through uuid.ts with SHA-1, see there).
 * - AEAD: ChaCha20-Poly1305 (RFC 8439) with a random 12-byte nonce prefixed to
 *         the ciphertext and empty AAD: `seal(k, p) = n12 ‖ ChaCha20-Poly1305(k, n12, p, ∅)`.
 *
 * Two interchangeable backends: `nativeBackend` (node:crypto / OpenSSL) and
 * `nobleBackend` (@noble/hashes + @noble/ciphers, pure JS, runs anywhere).
 * node:crypto is looked up lazily through `process.getBuiltinModule`, so this
 * module loads on runtimes without it and falls back to noble.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha1 as nobleSha1 } from "@noble/hashes/legacy.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { randomBytes as nobleRandomBytes } from "@noble/hashes/utils.js";
import { CryptoError } from "./errors.js";

export interface CryptoBackend {
  readonly name: "native" | "noble";
  hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array;
  sha256(msg: Uint8Array): Uint8Array;
  /** SHA-1, only for RFC 4122 UUIDv5 of nonces (not a security function here). */
  sha1(msg: Uint8Array): Uint8Array;
  /** `nonce12 ‖ ciphertext ‖ tag16` under a 32-byte key, empty AAD. */
  seal(key: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Inverse of seal. Throws CryptoError on < 13 bytes, a bad key size, or authentication failure. */
  unseal(key: Uint8Array, box: Uint8Array): Uint8Array;
  randomBytes(n: number): Uint8Array;
  /** Constant-time equality for secrets (different lengths → false). */
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
}

const NONCE_LEN = 12;
const TAG_LEN = 16;
const KEY_LEN = 32;

function assertKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LEN) {
    throw new CryptoError("bad_key", `${what} must be ${KEY_LEN} bytes`);
  }
}

function assertBox(box: Uint8Array): void {
  // Go `unseal`: "ciphertext too short" below nonce + 1 byte.
  if (!(box instanceof Uint8Array) || box.length < NONCE_LEN + 1) {
    throw new CryptoError("unseal_failed", "sealed box too short");
  }
  if (box.length < NONCE_LEN + TAG_LEN) throw new CryptoError("unseal_failed", "sealed box too short");
}

/** Constant-time comparison written once; both backends' results agree with it. */
function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

const enc = new TextEncoder();

export const nobleBackend: CryptoBackend = Object.freeze({
  name: "noble" as const,
  hmacSha256: (key: Uint8Array, msg: Uint8Array) => hmac(nobleSha256, key, msg),
  sha256: (msg: Uint8Array) => nobleSha256(msg),
  sha1: (msg: Uint8Array) => nobleSha1(msg),
  seal(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
    assertKey(key, "seal key");
    const nonce = nobleRandomBytes(NONCE_LEN);
    const ct = chacha20poly1305(key, nonce).encrypt(plaintext);
    const out = new Uint8Array(NONCE_LEN + ct.length);
    out.set(nonce);
    out.set(ct, NONCE_LEN);
    return out;
  },
  unseal(key: Uint8Array, box: Uint8Array): Uint8Array {
    assertKey(key, "unseal key");
    assertBox(box);
    try {
      return chacha20poly1305(key, box.subarray(0, NONCE_LEN)).decrypt(box.subarray(NONCE_LEN));
    } catch {
      throw new CryptoError("unseal_failed", "message authentication failed");
    }
  },
  randomBytes: (n: number) => nobleRandomBytes(n),
  timingSafeEqual: ctEqual,
});

type NodeCrypto = typeof import("node:crypto");

function loadNodeCrypto(): NodeCrypto | undefined {
  try {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const m = p?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
    if (m && typeof m.createHmac === "function" && m.getCiphers().includes("chacha20-poly1305")) return m;
  } catch {
    // not Node: fall through to noble
  }
  return undefined;
}

const nodeCrypto = loadNodeCrypto();

function makeNative(c: NodeCrypto): CryptoBackend {
  const asU8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return Object.freeze({
    name: "native" as const,
    hmacSha256: (key: Uint8Array, msg: Uint8Array) => asU8(c.createHmac("sha256", key).update(msg).digest()),
    sha256: (msg: Uint8Array) => asU8(c.createHash("sha256").update(msg).digest()),
    sha1: (msg: Uint8Array) => asU8(c.createHash("sha1").update(msg).digest()),
    seal(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
      assertKey(key, "seal key");
      const nonce = c.randomBytes(NONCE_LEN);
      const cipher = c.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_LEN });
      const a = cipher.update(plaintext);
      const b = cipher.final();
      const tag = cipher.getAuthTag();
      const out = new Uint8Array(NONCE_LEN + a.length + b.length + TAG_LEN);
      out.set(nonce);
      out.set(a, NONCE_LEN);
      out.set(b, NONCE_LEN + a.length);
      out.set(tag, NONCE_LEN + a.length + b.length);
      return out;
    },
    unseal(key: Uint8Array, box: Uint8Array): Uint8Array {
      assertKey(key, "unseal key");
      assertBox(box);
      try {
        const d = c.createDecipheriv("chacha20-poly1305", key, box.subarray(0, NONCE_LEN), {
          authTagLength: TAG_LEN,
        });
        d.setAuthTag(box.subarray(box.length - TAG_LEN));
        const a = d.update(box.subarray(NONCE_LEN, box.length - TAG_LEN));
        const b = d.final();
        if (b.length === 0) return asU8(a);
        const out = new Uint8Array(a.length + b.length);
        out.set(a);
        out.set(b, a.length);
        return out;
      } catch {
        throw new CryptoError("unseal_failed", "message authentication failed");
      }
    },
    randomBytes: (n: number) => asU8(c.randomBytes(n)),
    timingSafeEqual: (a: Uint8Array, b: Uint8Array) => a.length === b.length && c.timingSafeEqual(a, b),
  });
}

/** node:crypto backend, or undefined where node:crypto (with ChaCha20-Poly1305) is unavailable. */
export const nativeBackend: CryptoBackend | undefined = nodeCrypto ? makeNative(nodeCrypto) : undefined;

/** Native when available, else noble. */
export const defaultBackend: CryptoBackend = nativeBackend ?? nobleBackend;

/** Backends available on this runtime (for tests and benchmarks). */
export const availableBackends: readonly CryptoBackend[] = nativeBackend
  ? [nativeBackend, nobleBackend]
  : [nobleBackend];

// ---------------------------------------------------------------------------
// Fly's operations on top of the primitives (crypto.go, macaroon.go)

const FINALIZE_KEY = enc.encode("proof-signature-finalization");

/** `sign(k, m) = HMAC-SHA256(k, m)`. */
export function sign(b: CryptoBackend, key: Uint8Array, msg: Uint8Array): Uint8Array {
  return b.hmacSha256(key, msg);
}

/** Proof finalization: `HMAC("proof-signature-finalization", tail)` (macaroon.go `finalizeSignature`). */
export function finalizeSignature(b: CryptoBackend, tail: Uint8Array): Uint8Array {
  return b.hmacSha256(FINALIZE_KEY, tail);
}

/** `digest(m) = SHA256(m)`, used for binding IDs. */
export function digest(b: CryptoBackend, msg: Uint8Array): Uint8Array {
  return b.sha256(msg);
}

/** Compare tails, keys and discharge keys: constant time, on bytes. The one helper for secrets. */
export function equalSecret(b: CryptoBackend, a: Uint8Array, c: Uint8Array): boolean {
  return b.timingSafeEqual(a, c);
}

/** RFC 4122 §4.3 name-based UUID, version 5 (SHA-1), as bytes. */
export function uuidV5(b: CryptoBackend, namespace: Uint8Array, name: Uint8Array): Uint8Array {
  const input = new Uint8Array(namespace.length + name.length);
  input.set(namespace);
  input.set(name, namespace.length);
  const h = b.sha1(input).slice(0, 16);
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  return h;
}
