/**
 * Text that is byte-identical to Go's `json.Marshal` (encoding/json, Go 1.22+)
 * of a superfly/macaroon value: `CaveatSet.MarshalJSON` (caveat_set.go) and the
 * `Macaroon` struct's `{"location","caveats"}`.
 *
 * What Go does, and so what this writer does:
 * - Go struct fields keep their declaration order; Go maps are written with
 *   their keys sorted as strings, byte-wise ("10" before "9"). A JS value
 *   cannot say which of the two an object is, so maps are marked with
 *   `goMap()` (resource sets do this); every other plain object is a struct.
 * - Integers are number literals, including those beyond 2^53 (pass bigint).
 *   Other numbers follow ES6 number formatting, which encoding/json copies.
 * - Strings: `"` `\` and control characters escaped (`\b \f \n \r \t`, others
 *   `\u00XX` in lower-case hex); json.Marshal's HTML escaping of `<` `>` `&`
 *   as `\u003c \u003e \u0026`; U+2028 and U+2029 as `\u2028 \u2029`. A lone
 *   UTF-16 surrogate becomes U+FFFD, the character our msgpack writer (UTF-8)
 *   would have put on the wire for it.
 * - `Uint8Array` is Go `[]byte`: a standard padded base64 string.
 * - No whitespace (json.Marshal compacts `json.RawMessage` bodies too).
 *
 * This is for interop (flyctl, Fly's Rails IPC, comparing with Go). RPC
 * payloads keep `caveatSetToJSON` + `JSON.stringify`/`stringifyJSON`.
 */
import {
  CAV_USER_DEFINED_MIN,
  type Caveat,
  type CaveatRegistry,
  coreRegistry,
  UnregisteredCaveat,
} from "./caveat.js";
import { base64Encode } from "./encoding.js";
import { CaveatError } from "./errors.js";

const GO_MAP: unique symbol = Symbol("tkdb.goMap");
const MAX_DEPTH = 64;
const utf8 = new TextEncoder();
const HEX = "0123456789abcdef";

/**
 * Mark a plain object as a Go map (keys written sorted byte-wise by
 * `stringifyGoJSON`). The mark is a non-enumerable symbol: `JSON.stringify`
 * and equality checks do not see it. Returns the same object.
 */
export function goMap<T extends object>(obj: T): T {
  Object.defineProperty(obj, GO_MAP, { value: true, enumerable: false });
  return obj;
}

/** True for objects marked with `goMap()`. */
export function isGoMap(obj: unknown): boolean {
  return typeof obj === "object" && obj !== null && (obj as { [GO_MAP]?: boolean })[GO_MAP] === true;
}

/** Go's map key order: by UTF-8 bytes, which is code point order. */
function compareGoKeys(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return x.length - y.length;
}

/** encoding/json `appendString` with escapeHTML = true (Go 1.22+: `\b`, `\f` short forms). */
export function goJSONString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      switch (c) {
        case 0x22:
          out += '\\"';
          break;
        case 0x5c:
          out += "\\\\";
          break;
        case 0x08:
          out += "\\b";
          break;
        case 0x0c:
          out += "\\f";
          break;
        case 0x0a:
          out += "\\n";
          break;
        case 0x0d:
          out += "\\r";
          break;
        case 0x09:
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) {
            out += `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`;
          } else out += s[i];
      }
      continue;
    }
    if (c === 0x2028 || c === 0x2029) {
      out += `\\u202${HEX[c & 0xf]}`;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s.slice(i, i + 2);
        i++;
      } else out += "\ufffd";
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += "\ufffd";
      continue;
    }
    out += s[i];
  }
  return `${out}"`;
}

function goNumber(n: number): string {
  if (!Number.isFinite(n))
    throw new CaveatError("bad_argument", "Go JSON: unsupported number (NaN or infinite)");
  if (Object.is(n, -0)) return "-0";
  return JSON.stringify(n);
}

function write(v: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new CaveatError("bad_argument", "Go JSON: value nested too deeply");
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
      return goNumber(v);
    case "bigint":
      return v.toString();
    case "string":
      return goJSONString(v);
    case "object":
      break;
    default:
      throw new CaveatError("bad_argument", `Go JSON: unsupported value of type ${typeof v}`);
  }
  if (v instanceof Uint8Array) return goJSONString(base64Encode(v));
  if (Array.isArray(v)) return `[${v.map((x) => write(x, depth + 1)).join(",")}]`;
  if (v instanceof Map) {
    const entries = [...v.entries()].map(([k, x]) => {
      if (typeof k !== "string" && typeof k !== "number" && typeof k !== "bigint")
        throw new CaveatError("bad_argument", "Go JSON: map keys must be strings or integers");
      return [String(k), x] as const;
    });
    return writeMap(entries, depth);
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null)
    throw new CaveatError(
      "bad_argument",
      "Go JSON: only plain objects, arrays, Map and Uint8Array are supported",
    );
  const entries = Object.entries(v as Record<string, unknown>);
  if (isGoMap(v)) return writeMap(entries, depth);
  // A struct: fields in order; undefined fields are left out (as JSON.stringify does).
  const parts: string[] = [];
  for (const [k, x] of entries) if (x !== undefined) parts.push(`${goJSONString(k)}:${write(x, depth + 1)}`);
  return `{${parts.join(",")}}`;
}

function writeMap(entries: readonly (readonly [string, unknown])[], depth: number): string {
  const sorted = [...entries].sort((a, b) => compareGoKeys(a[0], b[0]));
  return `{${sorted.map(([k, x]) => `${goJSONString(k)}:${write(x, depth + 1)}`).join(",")}}`;
}

/** Go `json.Marshal` text of a JSON-like value (see the module comment for the value model). */
export function stringifyGoJSON(value: unknown): string {
  return write(value, 0);
}

/** Go `caveatTypeToString`: the registered name below 1<<48, else the decimal type number. */
export function goCaveatTypeName(type: bigint, reg: CaveatRegistry = coreRegistry): string {
  const codec = reg.get(type);
  return codec !== undefined && type < CAV_USER_DEFINED_MIN ? codec.name : type.toString();
}

/**
 * Byte-for-byte Go `json.Marshal(caveatSet)` (Go `CaveatSet.MarshalJSON`):
 * `[{"type":"…","body":…}]`, `[]` when empty. Refuses an UnregisteredCaveat
 * (CaveatError `unregistered_caveat`): Go renders those from its generic
 * msgpack decoder, whose output we do not reproduce.
 */
export function caveatSetToGoJSON(cavs: readonly Caveat[], reg: CaveatRegistry = coreRegistry): string {
  return stringifyGoJSON(caveatSetGoValue(cavs, reg));
}

/** The value `caveatSetToGoJSON` writes (for embedding in a larger Go-JSON value). */
export function caveatSetGoValue(cavs: readonly Caveat[], reg: CaveatRegistry = coreRegistry): unknown[] {
  return cavs.map((c) => {
    if (c instanceof UnregisteredCaveat)
      throw new CaveatError(
        "unregistered_caveat",
        `Go JSON: cannot render unregistered caveat type ${c.type}`,
      );
    return { type: goCaveatTypeName(c.type, reg), body: c.bodyGoJSON ? c.bodyGoJSON(reg) : c.bodyJSON() };
  });
}
