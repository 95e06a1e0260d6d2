/**
 * What a config spec says about itself: the `--help` "Environment" section, the README table, and
 * "did you mean" suggestions for mistyped variable names.
 */
import type { ConfigSpec } from "./config.js";

/** One variable as --help and the docs show it. */
export interface VarDescription {
  readonly name: string;
  readonly kind: string;
  readonly doc: string;
  readonly required: boolean;
  readonly default: string | undefined;
  readonly aliases: readonly string[];
  readonly file: boolean;
  readonly secret: boolean;
  readonly example: string | undefined;
}

export function describeConfig(spec: ConfigSpec): VarDescription[] {
  return Object.values(spec).map((v) => ({
    name: v.name,
    kind: v.kind,
    doc: v.doc,
    required: v.required,
    default: v.defaultText,
    aliases: v.aliases,
    file: v.file,
    secret: v.secret,
    example: v.example,
  }));
}

/** The "Environment" section of --help: one entry per variable, with its default or "required". */
export function formatEnvHelp(spec: ConfigSpec, indent = "  "): string {
  const rows = describeConfig(spec).map((d) => {
    const names = d.file ? `${d.name}, ${d.name}_FILE` : d.name;
    const tail = d.required ? "required" : d.default !== undefined ? `default: ${d.default}` : "optional";
    const old = d.aliases.length > 0 ? `; old name: ${d.aliases.join(", ")}` : "";
    return [names, `${d.doc} (${d.kind}; ${tail}${old})`] as const;
  });
  const width = Math.min(40, Math.max(0, ...rows.map(([n]) => n.length)));
  return rows.map(([n, t]) => `${indent}${n.padEnd(width)}  ${t}`).join("\n");
}

/** The docs table (Markdown) for an app README. */
export function envMarkdownTable(spec: ConfigSpec): string {
  const lines = ["| Variable | Meaning | Default |", "|---|---|---|"];
  for (const d of describeConfig(spec)) {
    const names = d.file ? `${d.name} / ${d.name}_FILE` : d.name;
    const old = d.aliases.length > 0 ? ` (old name: ${d.aliases.join(", ")})` : "";
    lines.push(`| ${names} | ${d.doc}${old} | ${d.required ? "required" : (d.default ?? "unset")} |`);
  }
  return lines.join("\n");
}

/** The known name within edit distance 2 of `name`, if any (typo suggestions). */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(name, c, bestD);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(
        (prev[j] as number) + 1,
        (cur[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = cur;
  }
  return prev[b.length] as number;
}
