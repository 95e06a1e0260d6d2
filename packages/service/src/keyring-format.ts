/**
 * The shared sealed-field format (no cryptography here: crypto.ts does that).
 *
 * Sealed blob, format 0x02:
 *
 *   offset 0   1 byte    format = 0x02
 *          1   8 bytes   kid: HKDF-SHA256(KEK, "tkdb-service/kek/v1/kid")[0:8], which KEK sealed it
 *          9   12 bytes  nonce (random)
 *         21   n bytes   ChaCha20-Poly1305 ciphertext of the plaintext, under the purpose's subkey
 *       21+n   16 bytes  tag
 *
 * AAD = format ‖ kid ‖ frame("tkdb-service/seal/v1") ‖ frame(purpose) ‖ frame(table) ‖
 *       frame(column) ‖ frame(row), each frame a u32 big-endian length then the bytes. The row is a
 *       list of typed parts ('s' UTF-8 string, 'i' decimal integer, 'b' raw bytes), each framed,
 *       so no two different bindings share an encoding. A blob moved to another row, column,
 *       table or purpose fails authentication.
 *
 * Keyed fingerprint, format 0x02: format ‖ kid(8) ‖ HMAC-SHA256(subkey, frame("tkdb-service/
 * fingerprint/v1") ‖ frame(part)…). The kid says which KEK's subkey to recompute it with.
 *
 * Why 0x02 and not 0x01: petsem's bea118d wrapped keys and sealed values both begin with 0x01, so
 * the new format starts elsewhere and the two can never be read as each other.
 */
import { KeyringError } from "./keyring-errors.js";

export const FORMAT_V1 = 0x02;
export const KID_LEN = 8;
const NONCE_LEN = 12;
const TAG_LEN = 16;
export const HEADER_LEN = 1 + KID_LEN + NONCE_LEN;
export const MIN_BLOB_LEN = HEADER_LEN + TAG_LEN;
export const FINGERPRINT_LEN = 1 + KID_LEN + 32;
/** Largest plaintext `seal` accepts (secret values are far smaller; this bounds misuse). */
export const MAX_PLAINTEXT = 1 << 20;

/**
 * What a subkey is for: each has its own HKDF label, so a blob sealed for one never opens as
 * another, and a leaked subkey says nothing about the others.
 */
export const PURPOSES = [
  /** the per-KEK check value that says which KEK a database is under */
  "kek-check",
  /** tkdb's per-org HMAC root keys; petsem's macaroon root key */
  "root-key",
  /** keys tkdb shares with third parties (the auth service, petsem) */
  "third-party-key",
  /** stored results of mutating RPCs, returned to a duplicate request */
  "idempotency-result",
  /** keyed fingerprints of (client, rid, op, args) */
  "idempotency-fingerprint",
  /** petsem's per-app data keys (DEKs) wrapped under the KEK */
  "data-key",
  /** values sealed under a data key (a keyring built from one DEK) */
  "secret-value",
] as const;
export type Purpose = (typeof PURPOSES)[number];

export function isPurpose(p: unknown): p is Purpose {
  return typeof p === "string" && (PURPOSES as readonly string[]).includes(p);
}

export type RowPart = string | number | bigint | Uint8Array;

/** Where a sealed field lives: its table, column and row (the row's natural key, never a rowid). */
export interface Binding {
  table: string;
  column: string;
  row: string | readonly RowPart[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const MAX_PART = 4096;
const utf8 = new TextEncoder();

function frame(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length, false);
  out.set(bytes, 4);
  return out;
}

/** frame(tag ‖ payload) in one allocation (a typed row part: 's', 'i' or 'b'). */
function taggedFrame(tag: number, payload: Uint8Array): Uint8Array {
  const n = 1 + payload.length;
  const out = new Uint8Array(4 + n);
  out[0] = n >>> 24;
  out[1] = (n >>> 16) & 0xff;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  out[4] = tag;
  out.set(payload, 5);
  return out;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function encodePart(p: RowPart): Uint8Array {
  if (typeof p === "string") {
    const b = utf8.encode(p);
    if (b.length > MAX_PART) throw new KeyringError("invalid_request", "a row part is too long");
    return taggedFrame(0x73, b);
  }
  if (typeof p === "number" || typeof p === "bigint") {
    if (typeof p === "number" && !Number.isSafeInteger(p)) {
      throw new KeyringError("invalid_request", "a numeric row part must be a safe integer");
    }
    return taggedFrame(0x69, utf8.encode(p.toString(10)));
  }
  if (p instanceof Uint8Array) {
    if (p.length > MAX_PART) throw new KeyringError("invalid_request", "a row part is too long");
    return taggedFrame(0x62, p);
  }
  throw new KeyringError("invalid_request", "a row part must be a string, an integer or bytes");
}

/** Checks a binding at the edge; the message names the field, never its value. */
export function assertBinding(b: unknown): asserts b is Binding {
  if (typeof b !== "object" || b === null)
    throw new KeyringError("invalid_request", "binding must be an object");
  const { table, column, row } = b as Record<string, unknown>;
  if (typeof table !== "string" || !IDENT.test(table)) {
    throw new KeyringError("invalid_request", "binding.table must be an SQL identifier");
  }
  if (typeof column !== "string" || !IDENT.test(column)) {
    throw new KeyringError("invalid_request", "binding.column must be an SQL identifier");
  }
  const parts = typeof row === "string" ? [row] : row;
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > 16) {
    throw new KeyringError("invalid_request", "binding.row must be a string or 1..16 parts");
  }
}

/** The AAD of a sealed field: its header, the purpose and the binding (format in the file header). */
export function sealAad(kid: Uint8Array, purpose: Purpose, b: Binding): Uint8Array {
  assertBinding(b);
  const parts = typeof b.row === "string" ? [b.row] : b.row;
  return concat([aadPrefix(kid, purpose, b.table, b.column), frame(concat(parts.map(encodePart)))]);
}

/**
 * format ‖ kid ‖ frame(label) ‖ frame(purpose) ‖ frame(table) ‖ frame(column): the same for every
 * field of a column, so it is built once (issue 17: a resolve opens 20 values). Public bytes only
 * (a kid, names); bounded.
 */
const prefixes = new Map<string, Uint8Array>();
function aadPrefix(kid: Uint8Array, purpose: Purpose, table: string, column: string): Uint8Array {
  let key = `${purpose}|${table}|${column}|`;
  for (let i = 0; i < kid.length; i++) key += String.fromCharCode(kid[i] as number);
  let p = prefixes.get(key);
  if (p === undefined) {
    p = concat([
      Uint8Array.of(FORMAT_V1),
      kid,
      frame(utf8.encode("tkdb-service/seal/v1")),
      frame(utf8.encode(purpose)),
      frame(utf8.encode(table)),
      frame(utf8.encode(column)),
    ]);
    if (prefixes.size >= 256) prefixes.clear();
    prefixes.set(key, p);
  }
  return p;
}

/** The message a fingerprint MACs: a label and each part, framed. */
export function fingerprintMessage(parts: readonly (string | Uint8Array)[]): Uint8Array {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new KeyringError("invalid_request", "fingerprint parts must be a non-empty list");
  }
  const chunks = [frame(utf8.encode("tkdb-service/fingerprint/v1"))];
  for (const p of parts) {
    if (typeof p === "string") chunks.push(frame(concat([utf8.encode("s"), utf8.encode(p)])));
    else if (p instanceof Uint8Array) chunks.push(frame(concat([utf8.encode("b"), p])));
    else throw new KeyringError("invalid_request", "a fingerprint part must be a string or bytes");
  }
  return concat(chunks);
}

export interface ParsedBlob {
  kid: Uint8Array;
  nonce: Uint8Array;
  /** ciphertext ‖ tag */
  body: Uint8Array;
}

/** Parses the header of a format-0x02 blob; undefined when it is not one (too short, other format). */
export function parseBlob(blob: Uint8Array): ParsedBlob | undefined {
  if (!(blob instanceof Uint8Array) || blob.length < MIN_BLOB_LEN || blob[0] !== FORMAT_V1) return undefined;
  return {
    kid: blob.subarray(1, 1 + KID_LEN),
    nonce: blob.subarray(1 + KID_LEN, HEADER_LEN),
    body: blob.subarray(HEADER_LEN),
  };
}

export function buildBlob(kid: Uint8Array, nonce: Uint8Array, body: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(FORMAT_V1), kid, nonce, body]);
}

export function buildFingerprint(kid: Uint8Array, mac: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(FORMAT_V1), kid, mac]);
}

/** The kid of a format-0x02 fingerprint, or undefined when it is not one. */
export function fingerprintKid(fp: Uint8Array): Uint8Array | undefined {
  if (!(fp instanceof Uint8Array) || fp.length !== FINGERPRINT_LEN || fp[0] !== FORMAT_V1) return undefined;
  return fp.subarray(1, 1 + KID_LEN);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
