/**
 * The only file of tkdb that calls cryptography (token crypto lives in @tkdb/macaroon, Noise in
 * @tkdb/noise, KEK sealing in @tkdb/service's keyring). Primitives: a CSPRNG, SHA-256 for the
 * audit hash chain, X25519 key pairs for keygen, constant-time comparison. Two backends with the
 * same interface: node:crypto ("native") and @noble ("noble").
 *
 * Everything tkdb keeps under the key-encryption key (KEK) is sealed by the shared keyring
 * (packages/service, "Keyring"): one versioned format naming the KEK's key id, one HKDF subkey per
 * purpose, and associated data binding each field to its table, column and row:
 *
 * | What | Purpose | Binding (table / column / row) |
 * |---|---|---|
 * | org root keys | `root-key` | `root_keys` / `sealed_key` / [org, root key id] |
 * | idempotency results | `idempotency-result` | `idempotency` / `sealed_result` / [client key, rid, op] |
 * | idempotency fingerprints | `idempotency-fingerprint` | keyed HMAC of [client key, rid, op, canonical args] |
 * | the KEK check value | `kek-check` | `meta` row `kek_check` (which KEK the database is under) |
 *
 * Third-party keys (TKDB_TP_KEYS) are configuration, not stored. Root keys and the check value
 * written at bea118d (tkdb's own ChaCha20-Poly1305 format) still open through the keyring's
 * legacy openers; `tkdb kek rotate` rewraps them into the shared format.
 */
import * as nodeCrypto from "node:crypto";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { randomBytes as nobleRandom } from "@noble/hashes/utils.js";
import { getNative } from "@tkdb/noise";
import {
  type Binding,
  constantTimeEqual,
  isKeyringError,
  type KekInfo,
  type KeyId,
  Keyring,
  type LegacyFormat,
} from "@tkdb/service";
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

/** The configured KEKs: `TKDB_KEK` (current), `TKDB_KEK_NEXT`, `TKDB_KEK_RETIRED` (open only). */
export interface KekConfig {
  kek: Uint8Array;
  kekNext?: Uint8Array | undefined;
  kekRetired?: readonly Uint8Array[] | undefined;
}

/** The keyring of a configuration (copies the keys). A malformed or repeated KEK is a `config` error. */
export function createKeyring(c: KekConfig): Keyring {
  try {
    return Keyring.create({ current: c.kek, next: c.kekNext, retired: c.kekRetired ?? [] });
  } catch (cause) {
    if (isKeyringError(cause)) throw new TkdbError("config", cause.message, { cause });
    throw cause;
  }
}

/** Where an org's root key lives: the AAD binds the blob to this org and root key id. */
export function rootKeyAt(org: string, kid: Uint8Array): Binding {
  return { table: "root_keys", column: "sealed_key", row: [org, kid] };
}

/** The bea118d format the `root_keys.sealed_key` column may still hold. */
export function legacyRootKey(org: string, kid: Uint8Array): LegacyFormat {
  return { format: "tkdb-root-key", org, kid };
}

/** The bea118d format of the `kek_check` meta row. */
export const LEGACY_KEK_CHECK: LegacyFormat = { format: "tkdb-kek-check" };

/** Seals an org root key under the KEK `sealKid` names (the one the database's check value names). */
export function sealRootKey(ring: Keyring, sealKid: KeyId, org: string, kid: Uint8Array, key: Uint8Array) {
  return ring.seal("root-key", key, rootKeyAt(org, kid), { kid: sealKid });
}

/** Opens an org root key sealed under any configured KEK, in the shared or the bea118d format. */
export function unsealRootKey(ring: Keyring, org: string, kid: Uint8Array, sealed: Uint8Array): Uint8Array {
  try {
    return ring.openAny("root-key", sealed, rootKeyAt(org, kid), legacyRootKey(org, kid)).plaintext;
  } catch (cause) {
    throw new TkdbError("corrupt", `root key of org ${org} does not open with the configured KEKs`, {
      cause,
    });
  }
}

/** A fresh check value under `kid` (default: the current KEK). */
export function kekCheckValue(ring: Keyring, kid?: KeyId): Uint8Array {
  return ring.checkValue(kid);
}

/** Which configured KEK a database's check value is under; `wrong_kek` when none opens it. */
export function kekCheckRole(ring: Keyring, check: Uint8Array): KekInfo {
  try {
    return ring.checkRole(check, LEGACY_KEK_CHECK);
  } catch (cause) {
    throw new TkdbError(
      "wrong_kek",
      "no configured KEK (TKDB_KEK, TKDB_KEK_NEXT, TKDB_KEK_RETIRED) opens this database; nothing was changed",
      { cause },
    );
  }
}

/** The KEK to seal with, given the check value read in the write's transaction. */
export function sealingKid(ring: Keyring, check: Uint8Array): KeyId {
  try {
    return ring.sealingKid(check, LEGACY_KEK_CHECK);
  } catch (cause) {
    throw new TkdbError(
      "wrong_kek",
      isKeyringError(cause) ? cause.message : "this database's KEK cannot seal",
      { cause },
    );
  }
}

// ---- idempotency records: sealed results and keyed fingerprints --------------------------------

/** What idempotency records are sealed with: the keyring and the KEK the database is under now. */
export interface IdempotencyKeys {
  ring: Keyring;
  /** reads the check value (inside the write transaction) and names the sealing KEK */
  sealingKid(): KeyId;
}

/** First part of every fingerprinted list (the keyring frames each part, so lists never collide). */
const FINGERPRINT_LABEL = "tkdb/idempotency-fingerprint/v2";

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

/**
 * Keyed fingerprint of (client key, rid, op, canonical args) under the `idempotency-fingerprint`
 * subkey of TKDB_KEK (it carries that KEK's id). Always the current KEK, not the sealing one:
 * fingerprints cannot be recomputed by `kek rotate` (the arguments are not stored), so they stay
 * under TKDB_KEK through the rotation and change only when TKDB_KEK_NEXT is promoted (a retry
 * across that restart is refused with idempotency_mismatch, never run twice). `_p` is kept for
 * the callers' signature.
 */
export function requestFingerprint(
  _p: Primitives,
  keys: IdempotencyKeys,
  clientKey: string,
  rid: string,
  op: string,
  args: unknown,
): Uint8Array {
  const canonical = canonicalJSON(args);
  return keys.ring.fingerprint([FINGERPRINT_LABEL, clientKey, rid, op, canonical]);
}

/** Where a result lives: bound to its client key, rid and op. */
export function idempotencyResultAt(clientKey: string, rid: string, op: string): Binding {
  return { table: "idempotency", column: "sealed_result", row: [clientKey, rid, op] };
}

/** Seals a result (its JSON text), bound to client key, rid and op. */
export function sealResult(
  _p: Primitives,
  keys: IdempotencyKeys,
  clientKey: string,
  rid: string,
  op: string,
  json: string,
): Uint8Array {
  return keys.ring.seal("idempotency-result", enc.encode(json), idempotencyResultAt(clientKey, rid, op), {
    kid: keys.sealingKid(),
  });
}

export function openResult(
  _p: Primitives,
  keys: IdempotencyKeys,
  clientKey: string,
  rid: string,
  op: string,
  sealed: Uint8Array,
): string {
  try {
    const plain = keys.ring.open("idempotency-result", sealed, idempotencyResultAt(clientKey, rid, op));
    return new TextDecoder("utf-8", { fatal: true }).decode(plain);
  } catch (cause) {
    throw new TkdbError("corrupt", "a stored idempotency record does not open with the configured KEKs", {
      cause,
    });
  }
}

/**
 * The same sealing in the shape of @tkdb/audit's `IdempotencyCrypto` (its `idempotency_records`
 * table): the record's AAD (client key, rid, op) is the row of the binding; results are sealed
 * under the KEK the check value names (rewrapped by `kek rotate`), fingerprints under TKDB_KEK
 * (see requestFingerprint).
 */
export function idempotencyCrypto(keys: IdempotencyKeys): {
  fingerprint(op: string, canonicalArgs: string): Uint8Array;
  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  open(sealed: Uint8Array, aad: Uint8Array): Uint8Array | null;
} {
  const at = (aad: Uint8Array): Binding => ({
    table: "idempotency_records",
    column: "sealed_result",
    row: [aad],
  });
  return {
    fingerprint: (op, canonicalArgs) => keys.ring.fingerprint([FINGERPRINT_LABEL, op, canonicalArgs]),
    seal: (plaintext, aad) =>
      keys.ring.seal("idempotency-result", plaintext, at(aad), { kid: keys.sealingKid() }),
    open: (sealed, aad) => {
      try {
        return keys.ring.open("idempotency-result", sealed, at(aad));
      } catch {
        return null;
      }
    },
  };
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

/** Constant-time equality on bytes (the shared one of @tkdb/service). */
export const bytesEqual: (a: Uint8Array, b: Uint8Array) => boolean = constantTimeEqual;
