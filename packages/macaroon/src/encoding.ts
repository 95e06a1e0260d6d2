/** Byte helpers with no dependencies (runtime-portable): base64 (std, padded), hex, equality. */
import { FormatError } from "./errors.js";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INV = new Int16Array(256).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INV[B64.charCodeAt(i)] = i;

/** Standard base64 with `=` padding (Go's base64.StdEncoding). */
export function base64Encode(b: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = ((b[i] as number) << 16) | ((b[i + 1] as number) << 8) | (b[i + 2] as number);
    out += B64[n >> 18] + (B64[(n >> 12) & 63] as string) + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = (b[i] as number) << 16;
    out += `${B64[n >> 18]}${B64[(n >> 12) & 63]}==`;
  } else if (rest === 2) {
    const n = ((b[i] as number) << 16) | ((b[i + 1] as number) << 8);
    out += `${B64[n >> 18]}${B64[(n >> 12) & 63]}${B64[(n >> 6) & 63]}=`;
  }
  return out;
}

/**
 * Decode standard padded base64 as Go's base64.StdEncoding does: the length
 * must be a multiple of 4, padding only at the end, alphabet `A–Z a–z 0–9 + /`.
 */
export function base64Decode(s: string, what = "base64"): Uint8Array {
  if (s.length % 4 !== 0) throw new FormatError("bad_base64", `${what}: length is not a multiple of 4`);
  let pad = 0;
  if (s.endsWith("==")) pad = 2;
  else if (s.endsWith("=")) pad = 1;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    const c0 = B64_INV[s.charCodeAt(i)] ?? -1;
    const c1 = B64_INV[s.charCodeAt(i + 1)] ?? -1;
    const c2 = last && pad === 2 ? 0 : (B64_INV[s.charCodeAt(i + 2)] ?? -1);
    const c3 = last && pad >= 1 ? 0 : (B64_INV[s.charCodeAt(i + 3)] ?? -1);
    if ((c0 | c1 | c2 | c3) < 0) throw new FormatError("bad_base64", `${what}: invalid character`);
    const n = (c0 << 18) | (c1 << 12) | (c2 << 6) | c3;
    out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  return out;
}

export function hexEncode(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function hexDecode(h: string): Uint8Array {
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new FormatError("bad_hex", "invalid hex string");
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Byte equality for PUBLIC data only (caveat bytes, tickets). Secrets use crypto.ts `equalSecret`. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A string key for public bytes (tickets, packed caveats) usable in a Map. */
export function bytesKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i] as number);
  return s;
}

/**
 * JSON.stringify that writes bigint values as bare integers, the way Go's
 * encoding/json writes int64/uint64 (so values above 2^53 stay exact).
 */
export function stringifyJSON(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "bigint") {
      marks.push(v.toString());
      return `\u0000bigint${marks.length - 1}\u0000`;
    }
    return v;
  });
  if (marks.length === 0) return text;
  return text.replace(/"\\u0000bigint(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] as string);
}
