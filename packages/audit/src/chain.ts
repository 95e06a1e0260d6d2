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
import { canonicalJson } from "./canonical.js";
import { sha256Hex } from "./crypto.js";
import { isAuditError } from "./errors.js";
import { type AuditLine, checkLineFields } from "./event.js";

export const GENESIS_PREV = "0".repeat(64);

export type Unsealed = Omit<AuditLine, "hash">;

export function lineHash(unsealed: Unsealed): string {
  return sha256Hex(canonicalJson(unsealed));
}

/** The sealed line and its text (without the newline). */
export function sealLine(unsealed: Unsealed): { line: AuditLine; text: string } {
  const line = { ...unsealed, hash: lineHash(unsealed) } as AuditLine;
  return { line, text: canonicalJson(line) };
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
