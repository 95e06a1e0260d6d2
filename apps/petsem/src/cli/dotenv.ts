/**
 * `secrets import` input: Fly's `.env` rules (flyctl internal/command/secrets/parser.go, as
 * ../shared/reference/secrets-model.md §2.1 states them), with three departures that each fix a
 * known complaint:
 *
 * - `NAME=VALUE` lines; `#` comment lines and blank lines are skipped; CRLF is read as LF.
 * - The name is trimmed; spaces before the value are dropped (`FOO = BAR` is `BAR`).
 * - One pair of matching quotes around the whole value is removed: `"…"` or `'…'`.
 * - An inline ` # comment` (whitespace, then `#`) outside quotes ends an unquoted value; after a
 *   quoted value it is dropped too (`A="x" # why`). A `#` inside a word (`pa#ss`) stays.
 * - `"""` opens a multi-line value that ends on the line ending with `"""` (lines joined with
 *   LF). Departure: `A="""x"""` on one line is the value `x` (flyctl #4509: Fly kept reading
 *   following lines into it). Departure: an unterminated `"""` is an error, not a silent drop.
 * - Departure: errors name the line number, never its text (a misplaced token would be echoed:
 *   secrets-model.md §2.3).
 * - A name given twice: the last one wins (as in Fly).
 *
 * Values are never interpreted further: no `$VAR` expansion, no escape sequences.
 */

export class DotenvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = "DotenvError";
  }
}

const TRIPLE = '"""';

/** The value of an unquoted or quoted single-line value, per the rules above. */
function singleLine(raw: string): string {
  const q = raw[0];
  if (q === '"' || q === "'") {
    // "…" or '…' around the whole value: one pair removed (as Fly: `""x""` is `"x"`)
    if (raw.length >= 2 && raw.endsWith(q)) return raw.slice(1, -1);
    // a quoted value followed by an inline comment
    const m = (q === '"' ? /^"(.*?)"\s+#/ : /^'(.*?)'\s+#/).exec(raw);
    return m === null ? raw : (m[1] as string);
  }
  const comment = /\s#/.exec(raw);
  return comment === null ? raw : raw.slice(0, comment.index).trimEnd();
}

/** Parses `.env` text into names → values (insertion order kept). */
export function parseDotenv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  let multi: { name: string; start: number; parts: string[] } | null = null;
  lines.forEach((line, i) => {
    if (multi !== null) {
      if (line.endsWith(TRIPLE)) {
        multi.parts.push(line.slice(0, -TRIPLE.length));
        out.set(multi.name, multi.parts.join("\n"));
        multi = null;
      } else multi.parts.push(line);
      return;
    }
    if (line.startsWith("#") || line.trim() === "") return;
    const eq = line.indexOf("=");
    if (eq < 0) throw new DotenvError(`line ${i + 1} is not NAME=VALUE`, i + 1);
    const name = line.slice(0, eq).trim();
    if (name === "") throw new DotenvError(`line ${i + 1} has no name before =`, i + 1);
    const value = line.slice(eq + 1).replace(/^ +/, "");
    if (value.startsWith(TRIPLE)) {
      const rest = value.slice(TRIPLE.length);
      if (rest.length >= TRIPLE.length && rest.endsWith(TRIPLE)) out.set(name, rest.slice(0, -TRIPLE.length));
      else multi = { name, start: i + 1, parts: [rest] };
      return;
    }
    out.set(name, singleLine(value));
  });
  if (multi !== null) {
    const m = multi as { start: number };
    throw new DotenvError(`the """ value opened on line ${m.start} is never closed`, m.start);
  }
  return out;
}
