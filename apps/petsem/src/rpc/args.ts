/**
 * Parsing an RPC's `args` (`unknown` in, typed values or `invalid_request` out). Messages are
 * fixed text naming the argument, never its value.
 */
import { PetsemError } from "../errors.js";

const U64_MAX = (1n << 64n) - 1n;

export function bad(message: string): PetsemError {
  return new PetsemError("invalid_request", message);
}

export function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

/** org/app ids: a decimal string (preferred: u64 exceeds 2^53) or a safe integer. */
export function parseId(v: unknown, what: "org" | "app"): bigint {
  let id: bigint | null = null;
  if (typeof v === "string" && /^[0-9]{1,20}$/.test(v)) id = BigInt(v);
  else if (typeof v === "number" && Number.isSafeInteger(v)) id = BigInt(v);
  if (id === null || id < 1n || id > U64_MAX) throw bad(`${what} must be an id in 1..2^64-1`);
  return id;
}

export function version(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw bad(`${what} must be a non-negative integer`);
  return v;
}

export function optVersion(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  return version(v, what);
}

export function stringArray(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw bad(`${what} must be an array of strings`);
  return v as string[];
}

/** The caller's petsem token (`FlyV1 <token>[,<discharge>…]`), carried inside the encrypted args. */
export function token(args: Record<string, unknown>): string {
  const t = args.token;
  if (typeof t !== "string" || t.length === 0) {
    throw new PetsemError("unauthorized", "a petsem token is required in args.token");
  }
  return t;
}

export function entries(v: unknown, what: string): Map<string, unknown> {
  return new Map(Object.entries(obj(v, what)));
}

/** org and app, the scope every op but health names. */
export function scope(a: Record<string, unknown>): { org: bigint; app: bigint } {
  return { org: parseId(a.org, "org"), app: parseId(a.app, "app") };
}
