/**
 * Value parsers for configuration: text in, typed value out, or a `KindError` that says what is
 * wrong without quoting the text (a value may be a key). config.ts attaches the variable's name.
 * One set of encodings everywhere: a 32-byte key is 64 hex digits, base64 or base64url, with or
 * without padding, surrounding whitespace ignored (files end with a newline).
 */

/** What is wrong with a value, never the value itself. */
export class KindError extends Error {
  override readonly name = "KindError";
}

export type Parser<T> = (text: string) => T;

const HEX64 = /^[0-9a-fA-F]{64}$/;
const B64_43 = /^[A-Za-z0-9+/]{43}=?$/;
const B64URL_43 = /^[A-Za-z0-9_-]{43}=?$/;

/**
 * A 32-byte key. The encoding must be canonical (re-encoding gives the same text, so one key has
 * one spelling per encoding) and the key must not be all zero bytes (an unset buffer, never a key).
 */
export function parseKey32(text: string): Uint8Array {
  const t = text.trim();
  let bytes: Buffer;
  if (HEX64.test(t)) bytes = Buffer.from(t, "hex");
  else if (B64URL_43.test(t) || B64_43.test(t)) {
    const url = /[-_]/.test(t);
    bytes = Buffer.from(t.replace(/=$/, ""), url ? "base64url" : "base64");
    const again = bytes.toString(url ? "base64url" : "base64").replace(/=$/, "");
    if (bytes.length !== 32 || again !== t.replace(/=$/, ""))
      throw new KindError("is not a canonical base64 encoding of 32 bytes");
  } else {
    throw new KindError("must be 32 bytes as 64 hex digits, base64 or base64url (43 characters, optional =)");
  }
  if (bytes.every((b) => b === 0)) throw new KindError("is all zero bytes, which is never a valid key");
  return new Uint8Array(bytes);
}

/** A TCP port, 0..65535 (0: any free port) unless `min` says otherwise. */
export function portParser(min = 0): Parser<number> {
  return (text) => {
    const t = text.trim();
    if (!/^\d{1,5}$/.test(t) || Number(t) > 65535 || Number(t) < min)
      throw new KindError(`must be a port number ${min}..65535`);
    return Number(t);
  };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const DNS_NAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A listen or connect host: IPv4, IPv6 (no brackets) or a DNS name. */
export function parseHost(text: string): string {
  const t = text.trim();
  if (IPV4.test(t)) return t;
  // A name of digits and dots only would be an IPv4 address, and this one is not.
  if (DNS_NAME.test(t) && !/^[\d.]+$/.test(t)) return t;
  if (/^[0-9a-fA-F:.]{2,45}$/.test(t) && t.includes(":")) {
    try {
      new URL(`http://[${t}]/`);
      return t;
    } catch {
      // fall through
    }
  }
  throw new KindError("must be an IPv4 address, an IPv6 address (no brackets) or a host name");
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Human text for a number of milliseconds: 1500 → "1.5s", 300000 → "5m". */
export function formatDuration(ms: number): string {
  for (const [u, n] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const)
    if (ms >= n && ms % (n / 10) === 0) return `${ms / n}${u}`;
  return `${ms}ms`;
}

/**
 * A duration in milliseconds: "90" (in `bareUnit`, seconds by default), "90s", "500ms", "5m",
 * "1h", or a sequence like "1h30m" (Go's form, as Litestream writes it). Bounds are inclusive.
 */
export function durationParser(
  opts: { min?: number; max?: number; bareUnit?: "ms" | "s" } = {},
): Parser<number> {
  const min = opts.min ?? 0;
  const max = opts.max ?? 7 * 24 * 3_600_000;
  const range = `between ${formatDuration(min)} and ${formatDuration(max)}`;
  return (text) => {
    const t = text.trim();
    let ms: number;
    if (/^\d{1,12}$/.test(t)) ms = Number(t) * (opts.bareUnit === "ms" ? 1 : 1000);
    else if (/^(\d{1,9}(ms|s|m|h))+$/.test(t)) {
      ms = 0;
      for (const m of t.matchAll(/(\d+)(ms|s|m|h)/g))
        ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    } else throw new KindError(`must be a duration such as 90, 90s, 500ms, 5m or 1h, ${range}`);
    if (!Number.isSafeInteger(ms) || ms < min || ms > max) throw new KindError(`must be a duration ${range}`);
    return ms;
  };
}

/** A decimal integer in [min, max]. */
export function intParser(opts: { min?: number; max?: number } = {}): Parser<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return (text) => {
    const t = text.trim();
    const n = Number(t);
    if (!/^-?\d{1,16}$/.test(t) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new KindError(`must be a whole number in ${min}..${max}`);
    return n;
  };
}

/** true/false, 1/0, yes/no, on/off. */
export function parseBool(text: string): boolean {
  const t = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(t)) return true;
  if (["0", "false", "no", "off"].includes(t)) return false;
  throw new KindError("must be true or false");
}

/**
 * A URL whose scheme is among `schemes` (default http and https), kept exactly as written (token
 * locations are compared as strings). User info is refused: a password in a URL ends up in logs.
 */
export function urlParser(schemes: readonly string[] = ["http:", "https:"]): Parser<string> {
  const names = schemes.map((s) => s.replace(/:$/, "")).join(" or ");
  return (text) => {
    const t = text.trim();
    let u: URL;
    try {
      u = new URL(t);
    } catch {
      throw new KindError(`must be a ${names} URL`);
    }
    if (!schemes.includes(u.protocol)) throw new KindError(`must be a ${names} URL`);
    if (u.username !== "" || u.password !== "")
      throw new KindError("must not contain a user name or password (use the credential variables)");
    return t;
  };
}

export function enumParser<const V extends string>(values: readonly V[]): Parser<V> {
  return (text) => {
    const t = text.trim();
    if (!(values as readonly string[]).includes(t))
      throw new KindError(`must be one of ${values.join(", ")}`);
    return t as V;
  };
}

/** A separated list; each item parsed by `item` (errors name the item's index). Empty items are refused. */
export function listParser<T>(
  item: Parser<T>,
  opts: { separator?: string; min?: number; max?: number; unique?: boolean } = {},
): Parser<T[]> {
  const sep = opts.separator ?? ",";
  const max = opts.max ?? 64;
  return (text) => {
    const parts = text.trim() === "" ? [] : text.split(sep).map((s) => s.trim());
    if (parts.length < (opts.min ?? 0) || parts.length > max)
      throw new KindError(`must list ${opts.min ?? 0}..${max} items separated by "${sep}"`);
    const seen = new Set<string>();
    return parts.map((p, i) => {
      if (p === "") throw new KindError(`item ${i} is empty`);
      if (opts.unique && seen.has(p)) throw new KindError(`item ${i} is listed twice`);
      seen.add(p);
      try {
        return item(p);
      } catch (e) {
        throw e instanceof KindError ? new KindError(`item ${i} ${e.message}`) : e;
      }
    });
  };
}

/**
 * `location=key` pairs, comma-separated: a map from an http(s) URL to a 32-byte key. The key
 * never contains "=" except one trailing padding character, so the split is at the last "=" before
 * that. A location listed twice is refused (which key would win is not a question to leave open).
 */
export function parseLocationKeys(text: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const loc = urlParser();
  const entries = text.trim() === "" ? [] : text.split(",").map((s) => s.trim());
  entries.forEach((entry, i) => {
    const eq = entry.lastIndexOf("=", entry.length - 2);
    if (eq <= 0) throw new KindError(`item ${i} must be location=key`);
    let location: string;
    let key: Uint8Array;
    try {
      location = loc(entry.slice(0, eq));
      key = parseKey32(entry.slice(eq + 1));
    } catch (e) {
      throw e instanceof KindError ? new KindError(`item ${i} (location=key): ${e.message}`) : e;
    }
    if (out.has(location)) throw new KindError(`item ${i}: location listed twice`);
    out.set(location, key);
  });
  return out;
}
