/**
 * What tkdb's RPCs share: argument checks (typed `bad_request` refusals, never echoing input), the
 * nonce id format, expiries, JSON-safe answers and the mapping of macaroon errors to refusals.
 */
import {
  base64Decode,
  base64Encode,
  bytesEqual,
  type Caveat,
  type Macaroon,
  MacaroonError,
  MsgpackReader,
  Nonce,
  ValidityWindow,
  VerificationError,
} from "@tkdb/macaroon";
import { badRequest, TkdbError } from "./errors.js";

/** Expiries past year 9999 are "no expiry" for the records (SQLite DATETIME text). */
export const MAX_RECORDED_EXPIRY = 253402300799n;

/** The earliest not_after among the ValidityWindows of a caveat set (unix seconds). */
export function earliestExpiry(cavs: readonly Caveat[]): bigint | undefined {
  let min: bigint | undefined;
  for (const c of cavs)
    if (c instanceof ValidityWindow && (min === undefined || c.notAfter < min)) min = c.notAfter;
  return min;
}

export function recordedExpiry(cavs: readonly Caveat[]): number | null {
  const e = earliestExpiry(cavs);
  return e === undefined || e > MAX_RECORDED_EXPIRY ? null : Number(e < 0n ? 0n : e);
}

/** A location from a token, quoted and shortened for an error message. */
export function quoteLocation(loc: string): string {
  return JSON.stringify(loc.length > 200 ? `${loc.slice(0, 200)}…` : loc);
}

/**
 * A Fly nonce: exactly one canonical msgpack `[kid, rnd]` or `[kid, rnd, proof]` (any key id,
 * known or retired, tokens' and discharges' alike). Anything else is bad_request.
 */
export function parseNonceId(text: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = base64Decode(text, "nonce");
  } catch {
    throw badRequest("nonce must be a nonceId: the base64 of a Fly nonce");
  }
  if (bytes.length === 0 || bytes.length > 4096) throw badRequest("nonce has a bad length");
  try {
    const r = new MsgpackReader(bytes);
    const n = Nonce.read(r);
    if (r.remaining !== 0 || !bytesEqual(n.encode(), bytes) || n.rnd.length === 0)
      throw new Error("not canonical");
  } catch {
    throw badRequest("nonce must be a nonceId: the base64 of a Fly nonce");
  }
  return bytes;
}

/**
 * The Noise transport is plain JSON: integers beyond 2^53 (bigints from caveatSetToJSON) would
 * break JSON.stringify or lose precision, so they travel as exact decimal strings.
 */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === "bigint")
    return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === "object" && !(v instanceof Uint8Array))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

export function nonceId(m: Macaroon): string {
  return base64Encode(m.nonce.encode());
}

export function str(args: Record<string, unknown>, name: string, max = 65536): string {
  const v = args[name];
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw badRequest(`${name} must be a string`);
  return v;
}

/** Org/app IDs: decimal strings (or safe-integer numbers), 1..2^63-1, returned as canonical strings. */
export function orgId(args: Record<string, unknown>, name = "org"): string {
  let v = args[name];
  if (typeof v === "number" && Number.isSafeInteger(v) && v > 0) v = String(v);
  if (typeof v !== "string" || !/^[1-9]\d{0,18}$/.test(v) || BigInt(v) > 0x7fffffffffffffffn)
    throw badRequest(`${name} must be a positive decimal integer string`);
  return v;
}

/** A macaroon library error as tkdb's refusal, naming the failing caveat or discharge. */
export function refusal(err: unknown, what: string, code: "verification_failed" | "bad_token"): TkdbError {
  if (err instanceof TkdbError) return err;
  if (err instanceof VerificationError) {
    const where = [
      err.caveatIndex === undefined ? "" : ` caveat ${err.caveatIndex}`,
      err.dischargeIndex === undefined ? "" : ` discharge ${err.dischargeIndex}`,
    ].join("");
    return new TkdbError(code, `${what}${where}: ${err.code}: ${err.message}`);
  }
  if (err instanceof MacaroonError) return new TkdbError(code, `${what}: ${err.code}: ${err.message}`);
  return new TkdbError(code, `${what}: malformed`);
}
