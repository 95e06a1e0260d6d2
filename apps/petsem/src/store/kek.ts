/**
 * Everything petsem keeps under the key-encryption key (KEK), sealed by @tkdb/service's keyring
 * (one versioned format naming the KEK's key id, one HKDF subkey per purpose, associated data
 * binding each field to its table, column and row):
 *
 * | What | Purpose | Binding (table / column / row) | bea118d format |
 * |---|---|---|---|
 * | the KEK check value | `kek-check` | (`meta` row `kek_check`) | the wrapped `server_key` |
 * | per-app data keys (DEKs) | `data-key` | `apps` / `wrapped_dek` / [org, app, kid] | `dek` |
 * | the server key (fingerprints) | `idempotency-fingerprint` | `meta` / `value` / `server_key` | `server-key` |
 * | token signing keys | `root-key` | `meta` / `value` / `macaroon_root_key[:<n>]` | `macaroon-root-key` |
 *
 * Secret values stay sealed under their app's DEK (not the KEK): a KEK rotation rewraps the DEKs
 * only. A database from bea118d opens as it is (its check is the wrapped server key); `petsem kek
 * rotate` moves it onto the shared format and writes a `kek_check` row.
 */
import {
  type Binding,
  isKeyringError,
  type KekInfo,
  type KeyId,
  Keyring,
  type LegacyFormat,
  type Purpose,
} from "@tkdb/service";
import { PetsemError } from "../errors.js";

export const KEK_CHECK = "kek_check";
export const SERVER_KEY = "server_key";

/** The configured KEKs: PETSEM_KEK (current), PETSEM_KEK_NEXT, PETSEM_KEK_RETIRED (open only). */
export interface KekConfig {
  readonly kek: Uint8Array;
  readonly kekNext?: Uint8Array | null | undefined;
  readonly kekRetired?: readonly Uint8Array[] | undefined;
}

/** The keyring of a configuration (copies the keys); a malformed or repeated KEK is `config`. */
export function createKeyring(c: KekConfig): Keyring {
  try {
    return Keyring.create({ current: c.kek, next: c.kekNext ?? undefined, retired: c.kekRetired ?? [] });
  } catch (cause) {
    if (isKeyringError(cause)) throw new PetsemError("config", cause.message, { cause });
    throw cause;
  }
}

/** A key wrapped in a `meta` row: which purpose, which binding, which bea118d format. */
export interface MetaKeyPlace {
  readonly purpose: Purpose;
  readonly binding: Binding;
  readonly legacy?: LegacyFormat;
}

/** Where a `meta` key lives. `macaroon_root_key:<n>` are signing keys added by `token key rotate`. */
export function metaPlace(name: string): MetaKeyPlace {
  const binding = { table: "meta", column: "value", row: name };
  if (name === SERVER_KEY)
    return {
      purpose: "idempotency-fingerprint",
      binding,
      legacy: { format: "petsem-wrapped-key", kind: "server-key" },
    };
  if (name === "macaroon_root_key")
    return {
      purpose: "root-key",
      binding,
      legacy: { format: "petsem-wrapped-key", kind: "macaroon-root-key" },
    };
  if (/^macaroon_root_key:[1-9]\d{0,8}$/.test(name)) return { purpose: "root-key", binding };
  throw new PetsemError("internal", "no such wrapped key");
}

/** Where an app's DEK lives. */
export function dekPlace(org: string, app: string, kid: number): MetaKeyPlace {
  return {
    purpose: "data-key",
    binding: { table: "apps", column: "wrapped_dek", row: [org, app, kid] },
    legacy: { format: "petsem-wrapped-key", kind: "dek", org, app, kid },
  };
}

/** Wraps a key under the KEK `kid` names (the one the check value names). */
export function wrapAt(ring: Keyring, kid: KeyId, place: MetaKeyPlace, key: Uint8Array): Buffer {
  return Buffer.from(ring.seal(place.purpose, key, place.binding, { kid }));
}

/** Unwraps a key under any configured KEK, shared or bea118d format; `integrity` otherwise. */
export function unwrapAt(ring: Keyring, place: MetaKeyPlace, wrapped: Uint8Array): Uint8Array {
  try {
    const key = ring.openAny(place.purpose, wrapped, place.binding, place.legacy).plaintext;
    if (key.length !== 32) throw new PetsemError("integrity", "wrapped key has the wrong length");
    return key;
  } catch (cause) {
    if (cause instanceof PetsemError) throw cause;
    const code = isKeyringError(cause, "wrong_kek") ? "wrong_kek" : "integrity";
    throw new PetsemError(code, "wrapped key failed authentication", { cause });
  }
}

/** The database's check value: the `kek_check` row, or (bea118d) the wrapped server key. */
export interface CheckValue {
  readonly blob: Uint8Array;
  readonly legacy?: LegacyFormat;
}

interface SqliteLike {
  prepare(sql: string): { get(...params: unknown[]): unknown };
}

export function readCheck(sqlite: SqliteLike): CheckValue | undefined {
  const get = (key: string) =>
    (sqlite.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: Buffer } | undefined)?.value;
  const check = get(KEK_CHECK);
  if (check !== undefined) return { blob: new Uint8Array(check) };
  const server = get(SERVER_KEY);
  if (server === undefined) return undefined;
  const legacy = metaPlace(SERVER_KEY).legacy;
  return legacy === undefined ? { blob: new Uint8Array(server) } : { blob: new Uint8Array(server), legacy };
}

/** Which configured KEK the check is under; `wrong_kek` when none opens it. */
export function checkRole(ring: Keyring, check: CheckValue): KekInfo {
  try {
    if (check.legacy === undefined) return ring.checkRole(check.blob);
    // bea118d: the check is the wrapped server key, opened for its own purpose
    const o = ring.openAny(
      "idempotency-fingerprint",
      check.blob,
      metaPlace(SERVER_KEY).binding,
      check.legacy,
    );
    o.plaintext.fill(0);
    return { kid: o.kid, role: o.role };
  } catch (cause) {
    throw new PetsemError(
      "wrong_kek",
      "no configured key-encryption key (PETSEM_KEK, PETSEM_KEK_NEXT, PETSEM_KEK_RETIRED) opens this database; nothing was changed",
      { cause },
    );
  }
}

/**
 * The KEK to seal new wrapped keys under: the one the check names (read in the caller's
 * transaction, so once `petsem kek rotate` commits every process seals under the new KEK). A
 * database under a retired KEK refuses writes until it is rotated.
 */
export function sealingKid(ring: Keyring, sqlite: SqliteLike): KeyId {
  const check = readCheck(sqlite);
  if (check === undefined) return ring.current;
  if (check.legacy === undefined) {
    try {
      return ring.sealingKid(check.blob);
    } catch (cause) {
      throw new PetsemError("wrong_kek", isKeyringError(cause) ? cause.message : "cannot seal", { cause });
    }
  }
  const info = checkRole(ring, check);
  if (info.role === "retired")
    throw new PetsemError("wrong_kek", "this database is under a retired KEK: run `petsem kek rotate` first");
  return info.kid;
}
