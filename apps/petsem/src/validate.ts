/**
 * Input rules, checked before any crypto or storage (P20, P21). Error messages are fixed strings:
 * they never contain the rejected name or value.
 */
import { PetsemError } from "./errors.js";

export const LIMITS = Object.freeze({
  /** bytes of UTF-8 per value (flyctl caps stdin values at 64 KiB; AWS SM allows 65,536) */
  maxValueBytes: 64 * 1024,
  /** entries per batch */
  maxBatch: 500,
  /** live secrets per app */
  maxSecretsPerApp: 500,
  /** versions kept per name (Vault KV v2's default); older ones are destroyed */
  versionsKept: 10,
});

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

/** A value must be a well-formed string of at most 64 KiB of UTF-8. Returns its byte length. */
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
