/**
 * Where the bench's figures go: docs/performance.json (one flat object; every writer merges its
 * keys into what is there, so other benches add theirs) and its own section of
 * docs/PERFORMANCE.md, between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` (replaced in
 * place; scripts/bench-all.mjs keeps such sections when it rewrites the file).
 *
 * Extra keys (e.g. `db_bytes_per_100k_discharges` from another bench): either call
 * mergePerformanceJson({ key: value }) from that bench, or print them as the `performance` object of
 * the bench's last JSON line; scripts/bench-all.mjs merges them into docs/performance.json and lists
 * them under "Other figures" in PERFORMANCE.md. The load bench's own keys are those of `flat` in
 * bench.ts (the list first).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../src/harness.js";

export const DOCS = join(ROOT, "docs");
export const PERFORMANCE_JSON = join(DOCS, "performance.json");
export const PERFORMANCE_MD = join(DOCS, "PERFORMANCE.md");

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Merges `keys` into the flat object in `path` (created if missing; an unreadable one is replaced). */
export function mergePerformanceJson(
  keys: Record<string, unknown>,
  path = PERFORMANCE_JSON,
): Record<string, unknown> {
  let current: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      const j = JSON.parse(readFileSync(path, "utf8"));
      if (j && typeof j === "object" && !Array.isArray(j)) current = j as Record<string, unknown>;
    } catch {
      // an unreadable file is replaced by what this run measured
    }
  }
  const merged = { ...current, ...keys };
  writeAtomic(path, `${JSON.stringify(merged, null, 2)}\n`);
  return merged;
}

/** The current value of keys in performance.json (e.g. a recorded baseline), or {}. */
export function readPerformanceJson(path = PERFORMANCE_JSON): Record<string, unknown> {
  try {
    const j = JSON.parse(readFileSync(path, "utf8"));
    return j && typeof j === "object" && !Array.isArray(j) ? (j as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export const sectionMarkers = (name: string) =>
  [`<!-- bench:${name} -->`, `<!-- /bench:${name} -->`] as const;

/** Replaces (or appends) the section `name` of PERFORMANCE.md with `body`. */
export function writeSection(name: string, body: string, path = PERFORMANCE_MD): void {
  const [open, close] = sectionMarkers(name);
  const block = `${open}\n${body.trim()}\n${close}`;
  const text = existsSync(path) ? readFileSync(path, "utf8") : "# Performance\n";
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  const next =
    a >= 0 && b > a
      ? `${text.slice(0, a)}${block}${text.slice(b + close.length)}`
      : `${text.trimEnd()}\n\n${block}\n`;
  writeAtomic(path, next);
}
