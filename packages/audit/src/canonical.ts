/**
 * Canonical JSON: one text per value, so that a hash or a keyed fingerprint of it is stable.
 *
 * - Object keys sorted by UTF-16 code units (RFC 8785 §3.2.3's order; `Array.prototype.sort`'s
 *   default), no whitespace; numbers and strings as `JSON.stringify` writes them, which is
 *   RFC 8785's serialization for finite numbers (ECMA-262 Number::toString) and escaped strings
 *   (lone surrogates escaped, ES2019 well-formed JSON.stringify).
 * - `bigint` is written as its exact decimal digits, a JSON number (so `1n` and `1` agree: they are
 *   the same value), never rounded through a double. `{bigint: "refuse"}` refuses it instead, for
 *   text that must parse back to the same value with `JSON.parse`.
 * - A `Map` with string keys is an object. Object properties whose value is `undefined` are left
 *   out (as JSON.stringify does); `undefined` anywhere else, functions, symbols, NaN, ±Infinity,
 *   byte arrays, class instances other than Map and Array, cycles and nesting deeper than 64 are
 *   refused (`invalid_request`), because a canonical form that silently changed them would let two
 *   different requests share a fingerprint.
 */
import { AuditError } from "./errors.js";

export interface CanonicalOptions {
  /** "number" (default): exact decimal digits; "refuse": invalid_request. */
  readonly bigint?: "number" | "refuse";
}

const MAX_DEPTH = 64;

export function canonicalJson(value: unknown, opts: CanonicalOptions = {}): string {
  return write(value, opts.bigint ?? "number", 0, new Set());
}

/**
 * The members of a plain object's canonical text, in canonical order: `[key, "\"key\":value"]`,
 * so that `{${parts.map((p) => p[1]).join(",")}}` is `canonicalJson(obj)`. The audit chain
 * (chain.ts) hashes a line without its `hash` and then writes it with one: it serialises each
 * member once and splices the hash in, instead of writing the line twice.
 */
export function canonicalMembers(obj: Readonly<Record<string, unknown>>): [string, string][] {
  const proto = Object.getPrototypeOf(obj);
  if (
    typeof obj !== "object" ||
    obj === null ||
    Array.isArray(obj) ||
    (proto !== Object.prototype && proto !== null)
  )
    refuse("a value that is not a plain object");
  const stack = new Set<object>([obj]);
  const out: [string, string][] = [];
  for (const [k, x] of Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (x === undefined) continue;
    out.push([k, `${JSON.stringify(k)}:${write(x, "number", 1, stack)}`]);
  }
  return out;
}

/** The object text of members from `canonicalMembers` (with any spliced in, in order). */
export function joinMembers(members: readonly (readonly [string, string])[]): string {
  let s = "{";
  for (let i = 0; i < members.length; i++)
    s += (i === 0 ? "" : ",") + (members[i] as readonly [string, string])[1];
  return `${s}}`;
}

function refuse(what: string): never {
  throw new AuditError("invalid_request", `canonical JSON: ${what} has no canonical form`);
}

function write(v: unknown, bigint: "number" | "refuse", depth: number, stack: Set<object>): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "number":
      if (!Number.isFinite(v)) refuse("a non-finite number");
      return JSON.stringify(v);
    case "bigint":
      if (bigint === "refuse") refuse("a bigint");
      return v.toString(10);
    case "object":
      break;
    default:
      refuse(`a value of type ${typeof v}`);
  }
  if (v === null) return "null";
  if (depth >= MAX_DEPTH) refuse("nesting deeper than 64");
  if (stack.has(v)) refuse("a cycle");
  stack.add(v);
  try {
    if (Array.isArray(v)) {
      return `[${v.map((x) => (x === undefined ? refuse("undefined in an array") : write(x, bigint, depth + 1, stack))).join(",")}]`;
    }
    let entries: [string, unknown][];
    if (v instanceof Map) {
      entries = [];
      for (const [k, x] of v) {
        if (typeof k !== "string") refuse("a Map key that is not a string");
        entries.push([k, x]);
      }
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) refuse("an instance of a class");
      entries = Object.entries(v);
    }
    const parts: string[] = [];
    for (const [k, x] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (x === undefined) continue;
      parts.push(`${JSON.stringify(k)}:${write(x, bigint, depth + 1, stack)}`);
    }
    return `{${parts.join(",")}}`;
  } finally {
    stack.delete(v);
  }
}
