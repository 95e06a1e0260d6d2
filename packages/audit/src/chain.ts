/**
 * The hash chain. Each line is the canonical JSON of an `AuditLine`;
 *
 *   hash = hex(SHA-256(canonicalJson(line without `hash`)))
 *
 * and `prev` is the previous line's `hash` (64 zeros before the first line of a node's chain).
 * Lowercase hex was chosen over base64 because it is what `sha256sum` prints and what OpenSearch
 * keyword queries compare without case or padding questions. The line on disk must be exactly
 * `canonicalJson(line)`, so any byte edit (not only one that changes a value) is caught.
 */
import { canonicalJson, canonicalMembers, joinMembers } from "./canonical.js";
import { sha256Hex } from "./crypto.js";
import { AuditError, isAuditError } from "./errors.js";
import { type AuditLine, checkLineFields } from "./event.js";

export const GENESIS_PREV = "0".repeat(64);

export type Unsealed = Omit<AuditLine, "hash">;

export function lineHash(unsealed: Unsealed): string {
  return sha256Hex(canonicalJson(unsealed));
}

/**
 * A line's canonical text by one native `JSON.stringify` of its members inserted in sorted order:
 * for a flat line (strings, booleans, finite numbers, arrays of strings or finite numbers, no
 * integer-like key) that is exactly `canonicalJson`'s text. Anything else returns undefined and
 * goes the general way.
 */
function flatText(o: Readonly<Record<string, unknown>>, keys: readonly string[]): string | undefined {
  const sorted: Record<string, unknown> = {};
  for (const k of keys) {
    const v = o[k];
    const c = k.charCodeAt(0);
    if (!flatValue(v) || (c >= 48 && c <= 57) || k === "__proto__") return undefined;
    sorted[k] = v;
  }
  return JSON.stringify(sorted);
}

function flatScalar(v: unknown): boolean {
  return typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

function flatValue(v: unknown): boolean {
  if (flatScalar(v)) return true;
  if (!Array.isArray(v)) return false;
  for (const x of v)
    if (!(typeof x === "string" || (typeof x === "number" && Number.isFinite(x)))) return false;
  return true;
}

/**
 * The sealed line and its text (without the newline): hashed without `hash`, then written with
 * it; both texts are exactly `canonicalJson` of the line (parseLine checks that on read). A flat
 * line (every line the writer makes) is serialised natively; any other goes through
 * `canonicalMembers`, each member once, with the hash spliced in.
 */
export function sealLine(unsealed: Unsealed): { line: AuditLine; text: string } {
  const o = unsealed as unknown as Record<string, unknown>;
  if (o.hash !== undefined) throw new AuditError("invalid_request", "a line to seal has no hash");
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  const bare = flatText(o, keys);
  if (bare !== undefined) {
    const hash = sha256Hex(bare);
    const line = { ...unsealed, hash } as AuditLine;
    const withHash = [...keys, "hash"].sort();
    return { line, text: flatText(line as unknown as Record<string, unknown>, withHash) as string };
  }
  const members = canonicalMembers(o);
  const hash = sha256Hex(joinMembers(members));
  let at = 0;
  while (at < members.length && (members[at] as [string, string])[0] < "hash") at++;
  members.splice(at, 0, ["hash", `"hash":"${hash}"`]);
  const line = { ...unsealed, hash } as AuditLine;
  return { line, text: joinMembers(members) };
}

export type ParsedLine = { ok: true; line: AuditLine } | { ok: false; reason: string };

/** Parses and checks one line on its own: JSON, canonical, known fields, its own hash. */
export function parseLine(text: string): ParsedLine {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  try {
    checkLineFields(x);
  } catch (e) {
    if (isAuditError(e)) return { ok: false, reason: e.message };
    throw e;
  }
  const line = x as AuditLine;
  if (canonicalJson(line) !== text) return { ok: false, reason: "not in canonical form (edited)" };
  const { hash, ...rest } = line;
  if (lineHash(rest) !== hash) return { ok: false, reason: "hash mismatch" };
  return { ok: true, line };
}
