/**
 * Redaction: what keeps tokens, keys and secret values out of logs, CLI errors and wire details.
 * Two independent nets, because either alone misses cases:
 *
 * 1. by field name: a field whose name says it may hold material (token, header, discharge, key,
 *    secret, value, password, authorization, …) is replaced whatever its value;
 * 2. by value: any string (or substring) that looks like material is replaced wherever it appears:
 *    `FlyV1 …` and `Bearer …` headers, Fly tokens (`fm1r_…`, `fm1a_…`, `fm2_…`), runs of 40+ hex
 *    digits, and runs of 40+ base64/base64url characters that mix upper case, lower case and
 *    digits (so file paths and URLs, which rarely do, survive).
 *
 * Nothing here is cryptographic; it is pattern matching on text.
 */

export const REDACTED = "[redacted]";

/** Words that mark a field as secret when they appear as a whole word of its name (camel/snake/kebab). */
const SECRET_WORDS = new Set([
  "token",
  "tokens",
  "header",
  "headers",
  "discharge",
  "discharges",
  "key",
  "keys",
  "secret",
  "secrets",
  "value",
  "values",
  "password",
  "passwords",
  "passwd",
  "authorization",
  "ticket",
  "tickets",
  "tail",
  "kek",
  "cookie",
  "cookies",
  "credential",
  "credentials",
  "private",
  "signature",
  "macaroon",
  "macaroons",
  "seed",
  "plaintext",
]);

/** Substrings that mark a field as secret anywhere in its lower-cased name ("apikey", "authtoken"). */
const SECRET_SUBSTRINGS = [
  "token",
  "secret",
  "passw",
  "authorization",
  "discharge",
  "kek",
  "credential",
  "cookie",
  "privatekey",
  "apikey",
];

/** The words of a field name: `clientKey` → [client, key]; `X-Api-Key` → [x, api, key]. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
}

/**
 * True when a field of this name may hold material and is replaced whatever its value.
 * `publicFields` (exact names) are exempt: e.g. a service's own `clientKey` public-key field.
 */
export function isSecretFieldName(name: string, publicFields?: ReadonlySet<string>): boolean {
  if (publicFields?.has(name)) return false;
  const lower = name.toLowerCase();
  if (SECRET_SUBSTRINGS.some((s) => lower.includes(s))) return true;
  return words(name).some((w) => SECRET_WORDS.has(w));
}

// Headers and tokens: the whole credential up to whitespace, a comma or a quote.
const HEADER_RE = /\b(?:FlyV1|Bearer)\s+[^\s"',]+(?:,[^\s"',]+)*/g;
const FLY_TOKEN_RE = /\bfm[12][a-z]?_[A-Za-z0-9+/=_-]+/g;
const LONG_HEX_RE = /[0-9a-fA-F]{40,}/g;
const LONG_B64_RE = /[A-Za-z0-9+/_-]{40,}={0,2}/g;

function looksRandom(run: string): boolean {
  return /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run);
}

/** True when the text contains something that looks like a token, key or other material. */
export function containsMaterial(text: string): boolean {
  return scrubString(text) !== text;
}

/** The text with every material-looking substring replaced by `[redacted]`. */
export function scrubString(text: string): string {
  let out = text.replace(HEADER_RE, REDACTED).replace(FLY_TOKEN_RE, REDACTED).replace(LONG_HEX_RE, REDACTED);
  out = out.replace(LONG_B64_RE, (run) => (looksRandom(run) ? REDACTED : run));
  return out;
}

export interface RedactOptions {
  /** Field names exempt from the name rule (values are still scrubbed unless also in `publicFields`). */
  readonly publicFields?: ReadonlySet<string>;
  /** Nesting depth beyond which values are replaced by "[depth]". Default 6. */
  readonly maxDepth?: number;
}

/**
 * A JSON-safe copy of `value` with secret fields and material-looking strings replaced. Errors
 * become `{name, code}` and, for their message, the scrubbed text (no stack: a stack quotes
 * messages of wrapped errors that may hold input). Bytes become "[N bytes]"; bigint a string.
 */
export function redactValue(value: unknown, opts: RedactOptions = {}): unknown {
  return walk(value, opts, 0, new WeakSet<object>(), false);
}

function walk(
  value: unknown,
  opts: RedactOptions,
  depth: number,
  seen: WeakSet<object>,
  pub: boolean,
): unknown {
  if (value === null || value === undefined) return value;
  switch (typeof value) {
    case "string":
      return pub ? value : scrubString(value);
    case "number":
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "function":
    case "symbol":
      return undefined;
  }
  if (value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  const obj = value as object;
  if (seen.has(obj)) return "[circular]";
  if (depth >= (opts.maxDepth ?? 6)) return "[depth]";
  seen.add(obj);
  try {
    if (value instanceof Error) return errorSummary(value, opts, depth, seen);
    if (Array.isArray(value)) return value.slice(0, 100).map((v) => walk(v, opts, depth + 1, seen, pub));
    if (value instanceof Map) return walk(Object.fromEntries(value), opts, depth, seen, pub);
    if (value instanceof Set) return walk([...value], opts, depth, seen, pub);
    return redactFields(value as Record<string, unknown>, opts, depth, seen);
  } finally {
    seen.delete(obj);
  }
}

function redactFields(
  record: Record<string, unknown>,
  opts: RedactOptions,
  depth: number,
  seen: WeakSet<object>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined) continue;
    const pub = opts.publicFields?.has(k) === true;
    out[k] = isSecretFieldName(k, opts.publicFields) ? REDACTED : walk(v, opts, depth + 1, seen, pub);
  }
  return out;
}

function errorSummary(
  err: Error,
  opts: RedactOptions,
  depth: number,
  seen: WeakSet<object>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name };
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out.code = code;
  out.message = scrubString(err.message);
  if (err.cause !== undefined) out.cause = walk(err.cause, opts, depth + 1, seen, false);
  return out;
}
