/** Reads an audit log folder's lines (all segments, in order) for assertions. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type Line = Record<string, unknown> & { kind: string; op: string; seq: number };

export function auditLines(dir: string): Line[] {
  return readdirSync(dir)
    .filter((f) => /^audit-\d{12}\.jsonl$/.test(f))
    .sort()
    .flatMap((f) =>
      readFileSync(join(dir, f), "utf8")
        .split("\n")
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Line),
    );
}
