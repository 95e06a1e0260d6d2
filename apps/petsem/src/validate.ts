/**
 * Input rules, checked before any crypto or storage (P20, P21). Error messages are fixed strings:
 * they never contain the rejected name or value.
 */
import { PetsemError } from "./errors.js";

/**
 * Count and size bounds, chosen together so that every state a write can accept resolves
 * (security issue 12 item 6): `resolve` of all names returns at most `maxSecretsPerApp` values of
 * at most `maxValueBytes` each, carried as base64 (4/3 of the bytes, whatever they are; JSON
 * escapes could grow a value 6×), and that worst case fits `MAX_RESPONSE_BYTES`. There is no
 * per-app byte quota on purpose: a writer could binary-search it to learn a stored value's length.
 */
export const LIMITS = Object.freeze({
  /**
   * bytes of UTF-8 per value. 32 KiB: a value of this size fits one Noise request (≤ 65 535
   * bytes) beside its token, and PEM keys, certificate chains and service-account JSON fit in it.
   */
  maxValueBytes: 32 * 1024,
  /** entries per batch (unsets included), and names per resolve */
  maxBatch: 500,
  /** live secrets per app */
  maxSecretsPerApp: 256,
  /** versions kept per name (Vault KV v2's default); older ones are destroyed */
  versionsKept: 10,
});

/** Characters of standard base64 (with padding) for `n` bytes. */
export function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/**
 * An upper bound on the response plaintext of `resolve` (the whole HTTP/Noise response object):
 * every live secret at the size limit with a 255-character name and the largest version number,
 * plus `missing` naming the rest of a maximal name list, plus the envelope. Counted on JSON with
 * only ASCII in it: names are ASCII, values base64.
 */
export function resolveResponseBound(): number {
  const nameMax = 255;
  const numMax = String(Number.MAX_SAFE_INTEGER).length;
  // {"name":"…","version":N,"value_b64":"…"},
  const entry = '{"name":"","version":,"value_b64":""},'.length + nameMax + numMax;
  const found = Math.min(LIMITS.maxSecretsPerApp, LIMITS.maxBatch);
  const missing = LIMITS.maxBatch - found;
  const envelope = 1024; // {"v":1,"rid":"…","ok":true,"result":{"app_version":N,"secrets":[…],"missing":[…]}}
  return (
    envelope + found * (entry + base64Length(LIMITS.maxValueBytes)) + Math.max(missing, 0) * (nameMax + 3)
  );
}

/**
 * The largest response petsem's Noise handler sends (its plaintext). Above the worst `resolve`
 * (about 11 MB with the limits above) and, with the framing's overhead (18 bytes per 65 519),
 * under the 16 MiB body a client accepts by default (@tkdb/noise `noiseCall`).
 */
export const MAX_RESPONSE_BYTES = 12 * 1024 * 1024;
if (resolveResponseBound() > MAX_RESPONSE_BYTES) {
  throw new Error("petsem limits: the worst-case resolve does not fit MAX_RESPONSE_BYTES");
}

export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
export const RESERVED_PREFIX = "FLY_";
const U64_MAX = (1n << 64n) - 1n;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function checkName(name: unknown): string {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw new PetsemError("invalid_name", "secret names must match ^[A-Za-z_][A-Za-z0-9_]{0,254}$");
  }
  if (name.startsWith(RESERVED_PREFIX)) {
    throw new PetsemError("reserved_name", "secret names must not start with the reserved FLY_ prefix");
  }
  return name;
}

/** A value must be a well-formed string of at most `LIMITS.maxValueBytes` of UTF-8. Returns it. */
export function checkValue(value: unknown): string {
  if (typeof value !== "string") throw new PetsemError("invalid_request", "secret values must be strings");
  // Cheap upper bound first: a UTF-16 code unit is at most 3 UTF-8 bytes.
  if (value.length > LIMITS.maxValueBytes || Buffer.byteLength(value, "utf8") > LIMITS.maxValueBytes) {
    throw new PetsemError("too_large", "secret value is over the size limit", {
      details: { limit: LIMITS.maxValueBytes },
    });
  }
  if (LONE_SURROGATE.test(value))
    throw new PetsemError("invalid_request", "secret values must be valid UTF-8");
  return value;
}

/** org and app ids are unsigned 64-bit; 0 is reserved ("any app" in SecretScope). Returns decimal. */
export function checkId(id: unknown, what: "org" | "app"): string {
  if (typeof id !== "bigint" || id < 1n || id > U64_MAX) {
    throw new PetsemError("invalid_request", `${what} must be an integer in 1..2^64-1`);
  }
  return id.toString(10);
}

export function checkVersion(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new PetsemError("invalid_request", `${what} must be a non-negative integer`);
  }
  return v;
}

export function checkBatchSize(n: number): void {
  if (n === 0) throw new PetsemError("invalid_request", "a batch needs at least one entry");
  if (n > LIMITS.maxBatch) {
    throw new PetsemError("too_many", "batch is over the entry limit", {
      details: { limit: LIMITS.maxBatch },
    });
  }
}
