/**
 * The only file of @tkdb/noise that calls cryptography. Everything else goes through
 * {@link NoiseCrypto}, which names the primitives of the suites we support:
 *
 * - DH: X25519 (RFC 7748), DHLEN = 32. A shared secret of all zeros (a low-order or
 *   non-canonical low-order public key, Noise §12.1) is refused with NoiseInvalidKeyError.
 * - Cipher: ChaChaPoly = ChaCha20-Poly1305 (RFC 8439); nonce = 4 zero bytes || n as 64-bit
 *   little-endian (Noise §12.3); 16-byte tag appended.
 * - Hash: BLAKE2s (RFC 7693, 32-byte output) or SHA-256; HASHLEN 32, BLOCKLEN 64 (Noise §12.5/§12.6).
 * - HMAC: RFC 2104 over that hash (HMAC-BLAKE2s, not keyed BLAKE2s; Noise §4.3).
 *
 * Two backends: `native` (node:crypto / OpenSSL, loaded lazily so this module also loads where
 * node:crypto does not exist) and `noble` (@noble/* 2.4.0, pure JS, runs anywhere).
 */
import type * as NodeBuffer from "node:buffer";
import type * as NodeCrypto from "node:crypto";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { blake2s } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { randomBytes as nobleRandomBytes } from "@noble/hashes/utils.js";
import { isAllZero } from "./bytes.js";
import { NoiseArgumentError, NoiseDecryptError, NoiseInvalidKeyError } from "./errors.js";

export type HashName = "BLAKE2s" | "SHA256";
export type BackendName = "native" | "noble";

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** The primitives interface. Every method asserts its inputs. */
export interface NoiseCrypto {
  readonly name: BackendName;
  /** Fresh X25519 key pair from the platform CSPRNG. */
  generateKeyPair(): KeyPair;
  /** X25519 public key of a 32-byte secret key. */
  publicKeyOf(secretKey: Uint8Array): Uint8Array;
  /** X25519(secretKey, publicKey); throws NoiseInvalidKeyError when the result is all zero. */
  dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** ChaCha20-Poly1305 with the Noise nonce layout; returns ciphertext || tag. */
  encrypt(key: Uint8Array, nonce: bigint, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Inverse of encrypt; throws NoiseDecryptError on a bad tag. */
  decrypt(key: Uint8Array, nonce: bigint, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  hash(alg: HashName, ...data: Uint8Array[]): Uint8Array;
  hmac(alg: HashName, key: Uint8Array, ...data: Uint8Array[]): Uint8Array;
  randomBytes(length: number): Uint8Array;
}

const MAX_NONCE = 0xffff_ffff_ffff_ffffn;
const TAG_LEN = 16;

function checkKey(key: Uint8Array, title: string): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new NoiseArgumentError(`${title} must be a 32-byte Uint8Array`);
  }
}

function checkNonce(n: bigint): void {
  if (typeof n !== "bigint" || n < 0n || n > MAX_NONCE)
    throw new NoiseArgumentError("nonce must be a u64 bigint");
}

/** Noise §12.3: 32 bits of zeros followed by the little-endian 64-bit nonce. */
export function chachaNonce(n: bigint): Uint8Array {
  checkNonce(n);
  const out = new Uint8Array(12);
  new DataView(out.buffer).setBigUint64(4, n, true);
  return out;
}

function checkDhOutput(out: Uint8Array): Uint8Array {
  if (isAllZero(out)) throw new NoiseInvalidKeyError();
  return out;
}

// ---------------------------------------------------------------------------------------------
// noble backend

const nobleHash = { BLAKE2s: blake2s, SHA256: sha256 } as const;

function joinParts(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function hashFn(alg: HashName) {
  const h = nobleHash[alg];
  if (h === undefined) throw new NoiseArgumentError("unsupported hash");
  return h;
}

export const noble: NoiseCrypto = Object.freeze({
  name: "noble" as const,
  generateKeyPair(): KeyPair {
    const { secretKey, publicKey } = x25519.keygen();
    return { secretKey, publicKey };
  },
  publicKeyOf(secretKey: Uint8Array): Uint8Array {
    checkKey(secretKey, "secretKey");
    return x25519.getPublicKey(secretKey);
  },
  dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    checkKey(secretKey, "secretKey");
    checkKey(publicKey, "publicKey");
    let out: Uint8Array;
    try {
      out = x25519.getSharedSecret(secretKey, publicKey);
    } catch {
      // noble v2 throws for the low-order u-coordinates before running the ladder.
      throw new NoiseInvalidKeyError();
    }
    return checkDhOutput(out);
  },
  encrypt(key: Uint8Array, nonce: bigint, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    checkKey(key, "key");
    return chacha20poly1305(key, chachaNonce(nonce), ad).encrypt(plaintext);
  },
  decrypt(key: Uint8Array, nonce: bigint, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    checkKey(key, "key");
    if (ciphertext.length < TAG_LEN) throw new NoiseDecryptError();
    try {
      return chacha20poly1305(key, chachaNonce(nonce), ad).decrypt(ciphertext);
    } catch {
      throw new NoiseDecryptError();
    }
  },
  hash(alg: HashName, ...data: Uint8Array[]): Uint8Array {
    const h = hashFn(alg).create();
    for (const d of data) h.update(d);
    return h.digest();
  },
  hmac(alg: HashName, key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
    return hmac(hashFn(alg), key, joinParts(data));
  },
  randomBytes(length: number): Uint8Array {
    return nobleRandomBytes(length);
  },
});

// ---------------------------------------------------------------------------------------------
// native backend (node:crypto)

type NodeCryptoModule = typeof NodeCrypto;
type NodeBufferModule = typeof NodeBuffer;

/**
 * node:crypto and node:buffer if this runtime has them (Node ≥ 20.16, Deno, Bun), loaded with
 * process.getBuiltinModule instead of a static import so this file also loads in a browser or
 * an edge runtime, where only the noble backend exists.
 */
function loadNodeModules(): { c: NodeCryptoModule; B: NodeBufferModule["Buffer"] } | undefined {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const c = proc?.getBuiltinModule?.("node:crypto") as NodeCryptoModule | undefined;
    const b = proc?.getBuiltinModule?.("node:buffer") as NodeBufferModule | undefined;
    if (c && typeof c.diffieHellman === "function" && b?.Buffer) return { c, B: b.Buffer };
  } catch {
    // fall through: no native backend here
  }
  return undefined;
}

// RFC 8410 PKCS#8 DER prefix for a raw X25519 private key (used for keys not made here).
const PKCS8_X25519 = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);
const OSSL_HASH = { BLAKE2s: "blake2s256", SHA256: "sha256" } as const;
/** RFC 7748 §6.1: Alice's X25519 key pair, for the raw-import self-check. */
const RFC7748_ALICE = {
  secretKey: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  publicKey: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
} as const;

function createNative(c: NodeCryptoModule, B: NodeBufferModule["Buffer"]): NoiseCrypto {
  // KeyObject caches. Keyed by the caller's Uint8Array object; a hit is only used when the bytes
  // still match the copy taken when the entry was made, so a mutated array is never misread.
  type Entry = { bytes: Uint8Array; key: NodeCrypto.KeyObject };
  const privateCache = new WeakMap<Uint8Array, Entry>();
  const publicCache = new WeakMap<Uint8Array, Entry>();

  function cached(
    cache: WeakMap<Uint8Array, Entry>,
    raw: Uint8Array,
    make: (raw: Uint8Array) => NodeCrypto.KeyObject,
  ): NodeCrypto.KeyObject {
    const hit = cache.get(raw);
    if (hit !== undefined && c.timingSafeEqual(hit.bytes, raw)) return hit.key;
    const key = make(raw);
    cache.set(raw, { bytes: Uint8Array.from(raw), key });
    return key;
  }
  const fromB64 = (s: string | undefined): Uint8Array => {
    const b = B.from(s ?? "", "base64url");
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  };
  const b64url = (raw: Uint8Array) => B.from(raw.buffer, raw.byteOffset, raw.length).toString("base64url");
  // Raw private key import. Node's JWK import of an OKP private key uses `d` alone (through
  // EVP_PKEY_new_raw_private_key; `x` is only type-checked), ~8x faster than PKCS#8 DER (~50 µs
  // against ~400 µs in Node 20). A placeholder `x` is passed. Because a future Node could check or
  // use `x`, the fast path is taken only after it derives RFC 7748's test public key from its
  // secret key (checked once per backend); otherwise every import goes through DER.
  const PLACEHOLDER_X = B.alloc(32).toString("base64url");
  const importJwk = (raw: Uint8Array) =>
    c.createPrivateKey({
      key: { kty: "OKP", crv: "X25519", d: b64url(raw), x: PLACEHOLDER_X },
      format: "jwk",
    });
  const importDer = (raw: Uint8Array) =>
    c.createPrivateKey({ key: B.concat([PKCS8_X25519, raw]), format: "der", type: "pkcs8" });
  const publicOf = (key: NodeCrypto.KeyObject): Uint8Array =>
    fromB64(c.createPublicKey(key).export({ format: "jwk" }).x);
  let fastImport = false;
  try {
    fastImport =
      B.from(publicOf(importJwk(B.from(RFC7748_ALICE.secretKey, "hex")))).toString("hex") ===
      RFC7748_ALICE.publicKey;
  } catch {
    // this runtime refuses the placeholder: DER it is
  }
  const makePrivate = fastImport ? importJwk : importDer;
  // JWK import of a public key is ~15x faster than SPKI DER in Node 20 (5 µs vs 70 µs), and a
  // fresh remote key (ephemeral, or a static learned in IK) is imported on every handshake.
  const makePublic = (raw: Uint8Array) =>
    c.createPublicKey({
      key: { kty: "OKP", crv: "X25519", x: b64url(raw) },
      format: "jwk",
    });

  const u8 = (b: NodeBuffer.Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

  return Object.freeze({
    name: "native" as const,
    // Not generateKeyPairSync: in Node 20 a key it made, exported as JWK, can deadlock the thread
    // (the export holds the key's mutex while allocating; a GC during that allocation destroys
    // the finished KeyGenJob, whose destructor takes the same mutex). Seen as a tkdb that stopped
    // answering under load; test/native-keygen.test.ts reproduces it in a child process.
    generateKeyPair(): KeyPair {
      const secretKey = new Uint8Array(c.randomBytes(32));
      const key = makePrivate(secretKey);
      privateCache.set(secretKey, { bytes: Uint8Array.from(secretKey), key });
      return { secretKey, publicKey: Uint8Array.from(publicOf(key)) };
    },
    publicKeyOf(secretKey: Uint8Array): Uint8Array {
      checkKey(secretKey, "secretKey");
      return Uint8Array.from(publicOf(cached(privateCache, secretKey, makePrivate)));
    },
    dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
      checkKey(secretKey, "secretKey");
      checkKey(publicKey, "publicKey");
      let out: Uint8Array;
      try {
        out = u8(
          c.diffieHellman({
            privateKey: cached(privateCache, secretKey, makePrivate),
            publicKey: cached(publicCache, publicKey, makePublic),
          }),
        );
      } catch {
        // OpenSSL refuses an all-zero X25519 result ("failed during derivation").
        throw new NoiseInvalidKeyError();
      }
      return checkDhOutput(out);
    },
    encrypt(key: Uint8Array, nonce: bigint, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
      checkKey(key, "key");
      const cipher = c.createCipheriv("chacha20-poly1305", key, chachaNonce(nonce), {
        authTagLength: TAG_LEN,
      });
      cipher.setAAD(ad, { plaintextLength: plaintext.length });
      const head = cipher.update(plaintext);
      const tail = cipher.final();
      return u8(B.concat([head, tail, cipher.getAuthTag()]));
    },
    decrypt(key: Uint8Array, nonce: bigint, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
      checkKey(key, "key");
      if (ciphertext.length < TAG_LEN) throw new NoiseDecryptError();
      const bodyLen = ciphertext.length - TAG_LEN;
      try {
        const d = c.createDecipheriv("chacha20-poly1305", key, chachaNonce(nonce), {
          authTagLength: TAG_LEN,
        });
        d.setAAD(ad, { plaintextLength: bodyLen });
        d.setAuthTag(ciphertext.subarray(bodyLen));
        const head = d.update(ciphertext.subarray(0, bodyLen));
        const tail = d.final();
        return u8(B.concat([head, tail]));
      } catch {
        throw new NoiseDecryptError();
      }
    },
    hash(alg: HashName, ...data: Uint8Array[]): Uint8Array {
      const h = c.createHash(OSSL_HASH[alg]);
      for (const d of data) h.update(d);
      return u8(h.digest());
    },
    hmac(alg: HashName, key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
      const h = c.createHmac(OSSL_HASH[alg], key);
      for (const d of data) h.update(d);
      return u8(h.digest());
    },
    randomBytes(length: number): Uint8Array {
      return u8(c.randomBytes(length));
    },
  });
}

let nativeBackend: NoiseCrypto | null | undefined;

/** The node:crypto backend, or undefined where node:crypto is not available. */
export function getNative(): NoiseCrypto | undefined {
  if (nativeBackend === undefined) {
    const mods = loadNodeModules();
    nativeBackend = mods ? createNative(mods.c, mods.B) : null;
  }
  return nativeBackend ?? undefined;
}

/** Resolve a backend option: an explicit name or object, else native when available, else noble. */
export function resolveBackend(backend?: BackendName | NoiseCrypto): NoiseCrypto {
  if (backend === undefined) return getNative() ?? noble;
  if (backend === "noble") return noble;
  if (backend === "native") {
    const n = getNative();
    if (n === undefined) throw new NoiseArgumentError("the native backend needs node:crypto");
    return n;
  }
  if (typeof backend === "object" && backend !== null && typeof backend.dh === "function") return backend;
  throw new NoiseArgumentError("backend must be 'native', 'noble' or a NoiseCrypto");
}
