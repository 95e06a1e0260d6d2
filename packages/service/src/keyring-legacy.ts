/**
 * Open-only readers of the formats tkdb and petsem wrote at bea118d, so databases made then still
 * open (and `kek rotate` can rewrap them into the shared format). Each mirrors, byte for byte,
 * the app's own crypto.ts at bea118d (cited per format); test/fixtures/legacy-bea118d.json holds
 * blobs made by running that code, and test/keyring-legacy.test.ts opens them here.
 */
import { aeadOpen, KEY_LEN, legacyAesGcmOpen, NONCE_LEN, TAG_LEN } from "./crypto.js";
import { KeyringError } from "./keyring-errors.js";

/** Which bea118d format a blob is in, with the facts its AAD was built from. */
export type LegacyFormat =
  /**
   * apps/tkdb/src/crypto.ts `sealRootKey`: nonce(12) ‖ ChaCha20-Poly1305(KEK, root key) ‖ tag(16),
   * AAD = utf8("tkdb/root-key/v1\0" + org + "\0") ‖ kid (the 16-byte root key id).
   */
  | { format: "tkdb-root-key"; org: string; kid: Uint8Array }
  /** tkdb `kekCheckValue`: nonce(12) ‖ tag(16) of an empty plaintext, AAD = "tkdb/kek-check/v1". */
  | { format: "tkdb-kek-check" }
  /**
   * apps/petsem/src/crypto.ts `wrapKey`: 0x01 ‖ nonce(12) ‖ AES-256-GCM(KEK, key(32)) ‖ tag(16),
   * AAD = "petsem/v1|<kind>|<org>|<app>|<kid>" for per-app keys, "petsem/v1|<kind>" otherwise.
   * The wrapped `server-key` doubled as petsem's KEK check.
   */
  | { format: "petsem-wrapped-key"; kind: "dek" | "digest-key"; org: string; app: string; kid: number }
  | { format: "petsem-wrapped-key"; kind: "server-key" | "macaroon-root-key" };

const utf8 = new TextEncoder();
const PETSEM_V1 = 0x01;
const PETSEM_WRAPPED_LEN = 1 + NONCE_LEN + KEY_LEN + TAG_LEN;

function tkdbRootKeyAad(org: string, kid: Uint8Array): Uint8Array {
  const o = utf8.encode(`tkdb/root-key/v1\0${org}\0`);
  const out = new Uint8Array(o.length + kid.length);
  out.set(o);
  out.set(kid, o.length);
  return out;
}

function petsemWrapAad(f: Extract<LegacyFormat, { format: "petsem-wrapped-key" }>): Uint8Array {
  if (f.kind === "dek" || f.kind === "digest-key") {
    return utf8.encode(`petsem/v1|${f.kind}|${f.org}|${f.app}|${f.kid}`);
  }
  return utf8.encode(`petsem/v1|${f.kind}`);
}

function assertFormat(f: LegacyFormat): void {
  const ok =
    (f.format === "tkdb-root-key" && typeof f.org === "string" && f.kid instanceof Uint8Array) ||
    f.format === "tkdb-kek-check" ||
    (f.format === "petsem-wrapped-key" &&
      (f.kind === "server-key" ||
        f.kind === "macaroon-root-key" ||
        ((f.kind === "dek" || f.kind === "digest-key") &&
          typeof f.org === "string" &&
          typeof f.app === "string" &&
          Number.isSafeInteger(f.kid))));
  if (!ok) throw new KeyringError("invalid_request", "unknown or malformed legacy format");
}

/**
 * Opens one bea118d blob with one raw KEK. Null when it does not open (wrong KEK, changed bytes,
 * other row); never partial plaintext.
 */
export function openLegacyWithKek(kek: Uint8Array, f: LegacyFormat, blob: Uint8Array): Uint8Array | null {
  assertFormat(f);
  if (!(blob instanceof Uint8Array)) throw new KeyringError("invalid_request", "blob must be bytes");
  switch (f.format) {
    case "tkdb-root-key":
      if (blob.length < NONCE_LEN + TAG_LEN) return null;
      return aeadOpen(
        kek,
        blob.subarray(0, NONCE_LEN),
        blob.subarray(NONCE_LEN),
        tkdbRootKeyAad(f.org, f.kid),
      );
    case "tkdb-kek-check":
      if (blob.length !== NONCE_LEN + TAG_LEN) return null;
      return aeadOpen(
        kek,
        blob.subarray(0, NONCE_LEN),
        blob.subarray(NONCE_LEN),
        utf8.encode("tkdb/kek-check/v1"),
      );
    case "petsem-wrapped-key": {
      if (blob.length !== PETSEM_WRAPPED_LEN || blob[0] !== PETSEM_V1) return null;
      const key = legacyAesGcmOpen(
        kek,
        blob.subarray(1, 1 + NONCE_LEN),
        blob.subarray(1 + NONCE_LEN),
        petsemWrapAad(f),
      );
      return key !== null && key.length === KEY_LEN ? key : null;
    }
  }
}

/** Where a petsem bea118d secret value lives (its AAD binds it there). */
export interface LegacyPetsemValuePlace {
  org: string;
  app: string;
  name: string;
  version: number;
  /** the app's DEK generation, stored in the blob (u32) and in the apps row */
  kid: number;
}

const PETSEM_VALUE_HEADER = 1 + 4 + NONCE_LEN;

/**
 * Opens a petsem bea118d secret value (apps/petsem/src/crypto.ts `openValue`): 0x01 ‖ kid (u32 BE)
 * ‖ nonce(12) ‖ AES-256-GCM(DEK, value) ‖ tag(16), AAD = "petsem/v1|<org>|<app>|<name>|<version>".
 * Values are under the app's DEK, not the KEK, so a KEK rotation leaves them as they are; only
 * the DEK's wrap changes. Throws `integrity` when it does not open.
 */
export function openLegacyPetsemValue(
  dek: Uint8Array,
  at: LegacyPetsemValuePlace,
  sealed: Uint8Array,
): Uint8Array {
  if (!(dek instanceof Uint8Array) || dek.length !== KEY_LEN) {
    throw new KeyringError("invalid_request", "dek must be 32 bytes");
  }
  if (!Number.isSafeInteger(at.kid) || !Number.isSafeInteger(at.version)) {
    throw new KeyringError("invalid_request", "kid and version must be integers");
  }
  const fail = () => new KeyringError("integrity", "stored value failed authentication");
  if (
    !(sealed instanceof Uint8Array) ||
    sealed.length < PETSEM_VALUE_HEADER + TAG_LEN ||
    sealed[0] !== PETSEM_V1
  ) {
    throw fail();
  }
  const view = new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (view.getUint32(1, false) !== at.kid >>> 0) throw fail();
  const aad = utf8.encode(`petsem/v1|${at.org}|${at.app}|${at.name}|${at.version}`);
  const pt = legacyAesGcmOpen(
    dek,
    sealed.subarray(5, PETSEM_VALUE_HEADER),
    sealed.subarray(PETSEM_VALUE_HEADER),
    aad,
  );
  if (pt === null) throw fail();
  return pt;
}
