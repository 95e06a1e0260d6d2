/**
 * Every cryptographic call petsem makes lives in this file (STYLE.md habit 1; superfly/macaroon
 * `crypto.go`). Nothing else imports node:crypto or @noble/*.
 *
 * Primitives, fixed (no crypto parameters are taken from callers):
 * - AEAD: AES-256-GCM (NIST SP 800-38D), 96-bit random nonces, 128-bit tags. Used to seal secret
 *   values under a per-app data key (DEK) and to wrap DEKs / the server key under the
 *   key-encryption key (KEK). Random 96-bit nonces stay far below SP 800-38D §8.3's 2^32
 *   invocations per key: each app has its own DEK and a bounded number of live secrets.
 * - MAC: HMAC-SHA256 (RFC 2104 / FIPS 180-4): request fingerprints for idempotency records (over a
 *   request's shape, never its values).
 * - Random: secret-version digests are random 128-bit ids, never a function of the value
 *   (security issue 12 item 1: a value-keyed digest lets a writer, or whoever holds a backup,
 *   confirm guesses).
 * - Hash: SHA-256 for the audit hash chain.
 * - Comparison: constant time on bytes.
 *
 * Two backends implement the same `Primitives`: "native" (node:crypto, OpenSSL; used by the service)
 * and "noble" (@noble/ciphers + @noble/hashes; portable, audited). Tests run every property on both
 * and cross-check them.
 *
 * Formats (secrets-model.md §5.2 "Storage & crypto"):
 * - sealed value  = 0x01 | kid (u32 BE) | nonce (12) | ciphertext | tag (16)
 *                   AAD = "petsem/v1|<org>|<app>|<name>|<version>"
 * - wrapped key   = 0x01 | nonce (12) | ciphertext (32) | tag (16)
 *                   AAD = "petsem/v1|<purpose>|…" (purpose names the key and its owner)
 * - digest        = "rand128:" + hex(16 random bytes), one per version (a rewrite of the same value,
 *                   and a rollback, get a new one)
 */
import * as nodeCrypto from "node:crypto";
import { gcm } from "@noble/ciphers/aes.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { randomBytes as nobleRandomBytes } from "@noble/hashes/utils.js";
import { type KeyPair, resolveBackend as resolveNoiseBackend } from "@tkdb/noise";
import { constantTimeEqual as sharedConstantTimeEqual } from "@tkdb/service";
import { PetsemError } from "./errors.js";

export const KEY_LEN = 32;
export const NONCE_LEN = 12;
export const TAG_LEN = 16;
export const DIGEST_LEN = 16;
/** Labels the digest scheme, so it can change later; the bytes are random, not derived from anything. */
export const DIGEST_LABEL = "rand128:";

const SEALED_FORMAT_V1 = 0x01;
const WRAPPED_FORMAT_V1 = 0x01;
const SEALED_HEADER_LEN = 1 + 4 + NONCE_LEN;
const WRAPPED_LEN = 1 + NONCE_LEN + KEY_LEN + TAG_LEN;

/** The small primitives interface both backends implement. */
export interface Primitives {
  readonly name: BackendName;
  randomBytes(n: number): Uint8Array;
  /** AES-256-GCM encrypt; returns ciphertext || tag. */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** AES-256-GCM decrypt; returns null when authentication fails (never garbage). */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null;
  hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array;
  sha256(msg: Uint8Array): Uint8Array;
}

export type BackendName = "native" | "noble";

function abytes(value: Uint8Array, length: number | undefined, title: string): void {
  if (!(value instanceof Uint8Array)) throw new PetsemError("internal", `${title} must be bytes`);
  if (length !== undefined && value.length !== length) {
    throw new PetsemError("internal", `${title} must be ${length} bytes`);
  }
}

const nativeBackend: Primitives = {
  name: "native",
  randomBytes: (n) => new Uint8Array(nodeCrypto.randomBytes(n)),
  aesGcmSeal(key, nonce, plaintext, aad) {
    const c = nodeCrypto.createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_LEN });
    c.setAAD(aad);
    const out = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  },
  aesGcmOpen(key, nonce, sealed, aad) {
    if (sealed.length < TAG_LEN) return null;
    const d = nodeCrypto.createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_LEN });
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
    const body = d.update(sealed.subarray(0, sealed.length - TAG_LEN));
    try {
      const out = Buffer.concat([body, d.final()]);
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    } catch {
      body.fill(0);
      return null;
    }
  },
  hmacSha256: (key, msg) => new Uint8Array(nodeCrypto.createHmac("sha256", key).update(msg).digest()),
  sha256: (msg) => new Uint8Array(nodeCrypto.createHash("sha256").update(msg).digest()),
};

const nobleBackend: Primitives = {
  name: "noble",
  randomBytes: (n) => nobleRandomBytes(n),
  aesGcmSeal: (key, nonce, plaintext, aad) => gcm(key, nonce, aad).encrypt(plaintext),
  aesGcmOpen(key, nonce, sealed, aad) {
    try {
      return gcm(key, nonce, aad).decrypt(sealed);
    } catch {
      return null;
    }
  },
  hmacSha256: (key, msg) => hmac(sha256, key, msg),
  sha256: (msg) => sha256(msg),
};

export const backends: Readonly<Record<BackendName, Primitives>> = {
  native: nativeBackend,
  noble: nobleBackend,
};

export function getBackend(name: BackendName): Primitives {
  return backends[name];
}

/** Constant-time byte comparison (length is not secret): the shared one of @tkdb/service. */
export const constantTimeEqual: (a: Uint8Array, b: Uint8Array) => boolean = sharedConstantTimeEqual;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/** Overwrites key material we hold; best effort (JS cannot promise erasure). */
export function wipe(...arrays: Uint8Array[]): void {
  for (const a of arrays) a.fill(0);
}

/** The AAD binding a value to its place: `petsem/v1|org|app|name|version` (P3). */
export function valueAad(org: string, app: string, name: string, version: number): Uint8Array {
  return utf8.encode(`petsem/v1|${org}|${app}|${name}|${version}`);
}

/** Key-wrap purposes; each binds a wrapped key to its role and owner through the AAD. */
export type WrapPurpose =
  | { kind: "dek"; org: string; app: string; kid: number }
  | { kind: "server-key" }
  | { kind: "macaroon-root-key" };

function wrapAad(p: WrapPurpose): Uint8Array {
  switch (p.kind) {
    case "dek":
      return utf8.encode(`petsem/v1|${p.kind}|${p.org}|${p.app}|${p.kid}`);
    default:
      return utf8.encode(`petsem/v1|${p.kind}`);
  }
}

/** Keyed operations over one backend. Holds no keys itself. */
export class PetsemCrypto {
  constructor(readonly prims: Primitives) {}

  newKey(): Uint8Array {
    return this.prims.randomBytes(KEY_LEN);
  }

  /** Wraps a 32-byte key under the KEK (envelope encryption). */
  wrapKey(kek: Uint8Array, key: Uint8Array, purpose: WrapPurpose): Uint8Array {
    abytes(kek, KEY_LEN, "kek");
    abytes(key, KEY_LEN, "key");
    const nonce = this.prims.randomBytes(NONCE_LEN);
    const ct = this.prims.aesGcmSeal(kek, nonce, key, wrapAad(purpose));
    const out = new Uint8Array(WRAPPED_LEN);
    out[0] = WRAPPED_FORMAT_V1;
    out.set(nonce, 1);
    out.set(ct, 1 + NONCE_LEN);
    return out;
  }

  /** Unwraps a key; a wrong KEK, a moved blob or any changed byte throws `integrity`. */
  unwrapKey(kek: Uint8Array, wrapped: Uint8Array, purpose: WrapPurpose): Uint8Array {
    abytes(kek, KEY_LEN, "kek");
    if (wrapped.length !== WRAPPED_LEN || wrapped[0] !== WRAPPED_FORMAT_V1) {
      throw new PetsemError("integrity", "wrapped key failed authentication");
    }
    const key = this.prims.aesGcmOpen(
      kek,
      wrapped.subarray(1, 1 + NONCE_LEN),
      wrapped.subarray(1 + NONCE_LEN),
      wrapAad(purpose),
    );
    if (key === null || key.length !== KEY_LEN) {
      throw new PetsemError("integrity", "wrapped key failed authentication");
    }
    return key;
  }

  /** Seals a UTF-8 value under an app DEK, bound to (org, app, name, version) by the AAD. */
  sealValue(dek: Uint8Array, kid: number, aad: Uint8Array, value: Uint8Array): Uint8Array {
    abytes(dek, KEY_LEN, "dek");
    const nonce = this.prims.randomBytes(NONCE_LEN);
    const ct = this.prims.aesGcmSeal(dek, nonce, value, aad);
    const out = new Uint8Array(SEALED_HEADER_LEN + ct.length);
    out[0] = SEALED_FORMAT_V1;
    new DataView(out.buffer).setUint32(1, kid >>> 0, false);
    out.set(nonce, 5);
    out.set(ct, SEALED_HEADER_LEN);
    return out;
  }

  /**
   * Opens a sealed value. Any changed byte (format, key id, nonce, ciphertext, tag) or a different
   * AAD (the row was moved) throws `integrity`; no partial plaintext is ever returned (P2, P3).
   */
  openValue(dek: Uint8Array, kid: number, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
    abytes(dek, KEY_LEN, "dek");
    if (sealed.length < SEALED_HEADER_LEN + TAG_LEN || sealed[0] !== SEALED_FORMAT_V1) {
      throw new PetsemError("integrity", "stored value failed authentication");
    }
    const view = new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (view.getUint32(1, false) !== kid >>> 0) {
      throw new PetsemError("integrity", "stored value failed authentication");
    }
    const pt = this.prims.aesGcmOpen(
      dek,
      sealed.subarray(5, SEALED_HEADER_LEN),
      sealed.subarray(SEALED_HEADER_LEN),
      aad,
    );
    if (pt === null) throw new PetsemError("integrity", "stored value failed authentication");
    return pt;
  }

  /**
   * A secret version's digest: 16 random bytes. It takes no value on purpose: nothing stored
   * outside the ciphertext may depend on the value, so equal values get unrelated digests.
   */
  newDigest(): Uint8Array {
    return this.prims.randomBytes(DIGEST_LEN);
  }

  /** Fingerprint of a request's canonical arguments, keyed so it reveals nothing about values. */
  fingerprint(serverKey: Uint8Array, canonical: string): Uint8Array {
    abytes(serverKey, KEY_LEN, "server key");
    return this.prims.hmacSha256(serverKey, utf8.encode(`petsem/v1|request|${canonical}`));
  }

  /** Audit hash chain link: SHA-256(previous hash || record). */
  chainHash(prev: Uint8Array, record: string): Uint8Array {
    const body = utf8.encode(record);
    const buf = new Uint8Array(prev.length + body.length);
    buf.set(prev, 0);
    buf.set(body, prev.length);
    return this.prims.sha256(buf);
  }

  equal(a: Uint8Array, b: Uint8Array): boolean {
    return constantTimeEqual(a, b);
  }
}

export function formatDigest(d: Uint8Array): string {
  return DIGEST_LABEL + Buffer.from(d).toString("hex");
}

export function encodeUtf8(s: string): Uint8Array {
  return utf8.encode(s);
}

/** Strict UTF-8 decode of a plaintext we sealed ourselves. */
export function decodeUtf8(b: Uint8Array): string {
  return utf8Strict.decode(b);
}

/** Parses a 32-byte key given as 64 hex chars or 43 base64url chars (no padding). */
export function parseKey32(text: string): Uint8Array | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return new Uint8Array(Buffer.from(t, "hex"));
  if (/^[A-Za-z0-9_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t.replace(/=$/, ""), "base64url");
    return b.length === KEY_LEN ? new Uint8Array(b) : null;
  }
  return null;
}

/** A fresh random 32-byte key (for `keygen`), hex. */
export function generateKeyHex(prims: Primitives = nativeBackend): string {
  return Buffer.from(prims.randomBytes(KEY_LEN)).toString("hex");
}

/** The Noise static key pair (X25519, via @tkdb/noise) for a 32-byte secret key, or a fresh one. */
export function noiseKeyPair(secretKey?: Uint8Array, backend: BackendName = "native"): KeyPair {
  const noise = resolveNoiseBackend(backend);
  if (secretKey === undefined) return noise.generateKeyPair();
  return { secretKey: new Uint8Array(secretKey), publicKey: noise.publicKeyOf(secretKey) };
}
