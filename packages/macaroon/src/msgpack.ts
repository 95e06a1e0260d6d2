/**
 * Canonical msgpack, exactly as Go's vmihailenco/msgpack v5.3.5 writes it with
 * `UseCompactInts(true)` and `UseArrayEncodedStructs(true)` (reference §1.2):
 *
 * - non-negative integers: smallest *unsigned* form (fixint, cc, cd, ce, cf);
 *   negative integers: smallest signed form (negative fixint, d0, d1, d2, d3);
 * - str: fixstr < 32, str8 (d9) < 256, str16 ≤ 0xffff, else str32;
 * - bin: bin8 < 256, bin16 ≤ 0xffff, else bin32;
 * - array: fixarray < 16, array16 ≤ 0xffff, else array32 (maps likewise).
 *
 * Signatures cover these bytes, so the reader refuses every other form of the
 * same value ("non-canonical"): a token Go would re-encode differently is a
 * token whose MAC Go would not reproduce.
 *
 * The reader never allocates from a length read off the wire before checking
 * that the remaining input can hold it.
 */
import { LimitError, MsgpackError, type MsgpackErrorCode } from "./errors.js";

export interface DecodeLimits {
  /** Nesting depth of arrays/maps (and nested caveat sets). */
  maxDepth: number;
  /** Size of the whole input given to a reader. */
  maxBytes: number;
  /** Caveats in one caveat set. */
  maxCaveats: number;
}

export const DEFAULT_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxDepth: 32,
  maxBytes: 64 * 1024,
  maxCaveats: 512,
});

export type MsgpackKind = "nil" | "bool" | "int" | "str" | "bin" | "array" | "map" | "float" | "ext";

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class MsgpackWriter {
  private buf: Uint8Array;
  private view: DataView | undefined;
  private len = 0;

  constructor(initialCapacity = 64) {
    this.buf = new Uint8Array(Math.max(1, initialCapacity));
  }

  /** DataView for multi-byte writes, made on first use (and after growth). */
  private dv(): DataView {
    if (this.view === undefined) this.view = new DataView(this.buf.buffer);
    return this.view;
  }

  private ensure(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = undefined;
  }

  /** Big-endian u16 at the end (space already ensured). */
  private put16(v: number): void {
    const b = this.buf;
    b[this.len++] = v >>> 8;
    b[this.len++] = v & 0xff;
  }

  /** Big-endian u32 at the end (space already ensured). */
  private put32(v: number): void {
    const b = this.buf;
    b[this.len++] = v >>> 24;
    b[this.len++] = (v >>> 16) & 0xff;
    b[this.len++] = (v >>> 8) & 0xff;
    b[this.len++] = v & 0xff;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  private fail(code: MsgpackErrorCode, message: string): never {
    throw new MsgpackError(code, message, this.len);
  }

  /** Unsigned integer in its smallest unsigned form. */
  uint(v: number | bigint): this {
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v) || v < 0) {
        this.fail("msgpack_out_of_range", "uint: not a non-negative safe integer");
      }
      if (v <= 0x7f) {
        this.byte(v);
      } else if (v <= 0xff) {
        this.ensure(2);
        this.buf[this.len++] = 0xcc;
        this.buf[this.len++] = v;
      } else if (v <= 0xffff) {
        this.ensure(3);
        this.buf[this.len++] = 0xcd;
        this.put16(v);
      } else if (v <= 0xffffffff) {
        this.ensure(5);
        this.buf[this.len++] = 0xce;
        this.put32(v);
      } else {
        this.ensure(9);
        this.buf[this.len++] = 0xcf;
        this.dv().setBigUint64(this.len, BigInt(v));
        this.len += 8;
      }
      return this;
    }
    if (v < 0n || v > U64_MAX) this.fail("msgpack_out_of_range", "uint: outside uint64");
    if (v <= 0xffffffffn) return this.uint(Number(v));
    this.ensure(9);
    this.buf[this.len++] = 0xcf;
    this.dv().setBigUint64(this.len, v);
    this.len += 8;
    return this;
  }

  /** Signed integer: non-negative values as `uint`, negative ones in the smallest signed form. */
  int(v: number | bigint): this {
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v)) this.fail("msgpack_out_of_range", "int: not a safe integer");
      if (v >= 0) return this.uint(v);
      if (v >= -32) {
        this.byte(v & 0xff);
      } else if (v >= -0x80) {
        this.ensure(2);
        this.buf[this.len++] = 0xd0;
        this.dv().setInt8(this.len++, v);
      } else if (v >= -0x8000) {
        this.ensure(3);
        this.buf[this.len++] = 0xd1;
        this.dv().setInt16(this.len, v);
        this.len += 2;
      } else if (v >= -0x80000000) {
        this.ensure(5);
        this.buf[this.len++] = 0xd2;
        this.dv().setInt32(this.len, v);
        this.len += 4;
      } else {
        this.ensure(9);
        this.buf[this.len++] = 0xd3;
        this.dv().setBigInt64(this.len, BigInt(v));
        this.len += 8;
      }
      return this;
    }
    if (v < I64_MIN || v > U64_MAX) this.fail("msgpack_out_of_range", "int: outside int64/uint64");
    if (v >= 0n) return this.uint(v);
    if (v >= -0x80000000n) return this.int(Number(v));
    this.ensure(9);
    this.buf[this.len++] = 0xd3;
    this.dv().setBigInt64(this.len, v);
    this.len += 8;
    return this;
  }

  str(s: string): this {
    if (s.length < 32) {
      // Fast path for short ASCII strings (most caveat strings): no TextEncoder call.
      let ascii = true;
      for (let i = 0; i < s.length; i++) {
        if (s.charCodeAt(i) >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.ensure(1 + s.length);
        const buf = this.buf;
        buf[this.len++] = 0xa0 | s.length;
        for (let i = 0; i < s.length; i++) buf[this.len++] = s.charCodeAt(i);
        return this;
      }
    }
    const bytes = utf8Encoder.encode(s);
    const n = bytes.length;
    if (n < 32) {
      this.byte(0xa0 | n);
    } else if (n <= 0xff) {
      this.ensure(2);
      this.buf[this.len++] = 0xd9;
      this.buf[this.len++] = n;
    } else if (n <= 0xffff) {
      this.ensure(3);
      this.buf[this.len++] = 0xda;
      this.put16(n);
    } else {
      this.ensure(5);
      this.buf[this.len++] = 0xdb;
      this.put32(n);
    }
    return this.rawBytes(bytes);
  }

  bin(b: Uint8Array): this {
    const n = b.length;
    if (n <= 0xff) {
      this.ensure(2);
      this.buf[this.len++] = 0xc4;
      this.buf[this.len++] = n;
    } else if (n <= 0xffff) {
      this.ensure(3);
      this.buf[this.len++] = 0xc5;
      this.put16(n);
    } else {
      this.ensure(5);
      this.buf[this.len++] = 0xc6;
      this.put32(n);
    }
    return this.rawBytes(b);
  }

  nil(): this {
    this.byte(0xc0);
    return this;
  }

  bool(b: boolean): this {
    this.byte(b ? 0xc3 : 0xc2);
    return this;
  }

  /** Array header only; the caller writes `n` values next. */
  array(n: number): this {
    return this.container(n, 0x90, 0xdc, 0xdd);
  }

  /** Map header only; the caller writes `n` key/value pairs next (keys sorted, see reference §1.2). */
  map(n: number): this {
    return this.container(n, 0x80, 0xde, 0xdf);
  }

  private container(n: number, fix: number, c16: number, c32: number): this {
    if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) {
      this.fail("msgpack_out_of_range", "container length out of range");
    }
    if (n < 16) {
      this.byte(fix | n);
    } else if (n <= 0xffff) {
      this.ensure(3);
      this.buf[this.len++] = c16;
      this.put16(n);
    } else {
      this.ensure(5);
      this.buf[this.len++] = c32;
      this.put32(n);
    }
    return this;
  }

  /** Append an already-encoded msgpack value verbatim. */
  raw(encodedValue: Uint8Array): this {
    return this.rawBytes(encodedValue);
  }

  private rawBytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Forget what was written (keeps the buffer). */
  reset(): this {
    this.len = 0;
    return this;
  }

  /** Whether the bytes written so far equal `b`. */
  equals(b: Uint8Array): boolean {
    if (b.length !== this.len) return false;
    const buf = this.buf;
    for (let i = 0; i < b.length; i++) if (buf[i] !== b[i]) return false;
    return true;
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.len;
  }

  /** A copy of the bytes written; the writer may keep being used. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export class MsgpackReader {
  readonly limits: Readonly<DecodeLimits>;
  private readonly buf: Uint8Array;
  private view: DataView | undefined;
  private pos = 0;
  private depth = 0;

  constructor(bytes: Uint8Array, limits?: Partial<DecodeLimits>) {
    if (!(bytes instanceof Uint8Array))
      throw new MsgpackError("msgpack_unexpected_type", "input must be a Uint8Array", 0);
    this.limits =
      limits === undefined
        ? DEFAULT_LIMITS
        : limits.maxBytes !== undefined && limits.maxDepth !== undefined && limits.maxCaveats !== undefined
          ? (limits as DecodeLimits)
          : { ...DEFAULT_LIMITS, ...limits };
    if (bytes.length > this.limits.maxBytes) {
      throw new LimitError(
        "maxBytes",
        this.limits.maxBytes,
        `input of ${bytes.length} bytes exceeds ${this.limits.maxBytes}`,
      );
    }
    this.buf = bytes;
  }

  /** DataView for 64-bit and signed reads, made on first use. */
  private dv(): DataView {
    if (this.view === undefined)
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.view;
  }

  get offset(): number {
    return this.pos;
  }

  /** Bytes not yet consumed. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** The input bytes between two offsets (a view, not a copy). */
  slice(start: number, end: number): Uint8Array {
    return this.buf.subarray(start, end);
  }

  private fail(code: MsgpackErrorCode, message: string, at = this.pos): never {
    throw new MsgpackError(code, message, at);
  }

  private need(n: number): void {
    if (this.buf.length - this.pos < n) this.fail("msgpack_truncated", "unexpected end of input");
  }

  private u8(): number {
    if (this.pos >= this.buf.length) this.fail("msgpack_truncated", "unexpected end of input");
    return this.buf[this.pos++] as number;
  }

  private u16(): number {
    this.need(2);
    const b = this.buf;
    const p = this.pos;
    this.pos += 2;
    return ((b[p] as number) << 8) | (b[p + 1] as number);
  }

  private u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (
      (b[p] as number) * 0x1000000 +
      (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number))
    );
  }

  private peekByte(): number {
    if (this.pos >= this.buf.length) this.fail("msgpack_truncated", "unexpected end of input");
    return this.buf[this.pos] as number;
  }

  peek(): MsgpackKind {
    const kind = kindOf(this.peekByte());
    if (kind === undefined) this.fail("msgpack_malformed", "reserved byte 0xc1");
    return kind;
  }

  isNil(): boolean {
    return this.pos < this.buf.length && this.buf[this.pos] === 0xc0;
  }

  /** An unsigned integer, in its minimal unsigned form only. */
  uint(): bigint {
    const start = this.pos;
    const b = this.u8();
    if (b <= 0x7f) return BigInt(b);
    switch (b) {
      case 0xcc: {
        const v = this.u8();
        if (v < 0x80) this.fail("msgpack_non_canonical", "uint8 holding a fixint value", start);
        return BigInt(v);
      }
      case 0xcd: {
        const v = this.u16();
        if (v <= 0xff) this.fail("msgpack_non_canonical", "uint16 holding a smaller value", start);
        return BigInt(v);
      }
      case 0xce: {
        const v = this.u32();
        if (v <= 0xffff) this.fail("msgpack_non_canonical", "uint32 holding a smaller value", start);
        return BigInt(v);
      }
      case 0xcf: {
        this.need(8);
        const v = this.dv().getBigUint64(this.pos);
        this.pos += 8;
        if (v <= 0xffffffffn) this.fail("msgpack_non_canonical", "uint64 holding a smaller value", start);
        return v;
      }
    }
    this.pos = start;
    if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3))
      this.fail("msgpack_out_of_range", "negative integer where unsigned expected");
    return this.unexpected("int", b);
  }

  /**
   * A signed integer as Go writes an int64 with compact ints: minimal unsigned
   * forms for values ≥ 0 (at most 2^63-1), minimal signed forms for values < 0.
   */
  int(): bigint {
    const start = this.pos;
    const b = this.peekByte();
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
      const v = this.uint();
      if (v > I64_MAX) this.fail("msgpack_out_of_range", "integer exceeds int64", start);
      return v;
    }
    this.pos++;
    if (b >= 0xe0) return BigInt(b - 0x100);
    switch (b) {
      case 0xd0: {
        this.need(1);
        const v = this.dv().getInt8(this.pos);
        this.pos += 1;
        if (v >= -32)
          this.fail("msgpack_non_canonical", "int8 holding a fixint or non-negative value", start);
        return BigInt(v);
      }
      case 0xd1: {
        this.need(2);
        const v = this.dv().getInt16(this.pos);
        this.pos += 2;
        if (v >= -0x80)
          this.fail("msgpack_non_canonical", "int16 holding a smaller or non-negative value", start);
        return BigInt(v);
      }
      case 0xd2: {
        this.need(4);
        const v = this.dv().getInt32(this.pos);
        this.pos += 4;
        if (v >= -0x8000)
          this.fail("msgpack_non_canonical", "int32 holding a smaller or non-negative value", start);
        return BigInt(v);
      }
      case 0xd3: {
        this.need(8);
        const v = this.dv().getBigInt64(this.pos);
        this.pos += 8;
        if (v >= -0x80000000n)
          this.fail("msgpack_non_canonical", "int64 holding a smaller or non-negative value", start);
        return v;
      }
    }
    this.pos = start;
    return this.unexpected("int", b);
  }

  str(): string {
    const start = this.pos;
    const b = this.u8();
    let n: number;
    if (b >= 0xa0 && b <= 0xbf) {
      n = b & 0x1f;
    } else if (b === 0xd9) {
      n = this.u8();
      if (n < 32) this.fail("msgpack_non_canonical", "str8 holding a fixstr length", start);
    } else if (b === 0xda) {
      n = this.u16();
      if (n <= 0xff) this.fail("msgpack_non_canonical", "str16 holding a smaller length", start);
    } else if (b === 0xdb) {
      n = this.u32();
      if (n <= 0xffff) this.fail("msgpack_non_canonical", "str32 holding a smaller length", start);
    } else {
      this.pos = start;
      return this.unexpected("str", b);
    }
    this.need(n);
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    if (n <= 64) {
      // Short ASCII strings without a TextDecoder call.
      let out = "";
      let i = 0;
      for (; i < n; i++) {
        const c = bytes[i] as number;
        if (c >= 0x80) break;
        out += String.fromCharCode(c);
      }
      if (i === n) return out;
    }
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      return this.fail("msgpack_invalid_utf8", "string is not valid UTF-8", start);
    }
  }

  /** Binary data (a copy). */
  bin(): Uint8Array {
    const start = this.pos;
    const b = this.u8();
    let n: number;
    if (b === 0xc4) {
      n = this.u8();
    } else if (b === 0xc5) {
      n = this.u16();
      if (n <= 0xff) this.fail("msgpack_non_canonical", "bin16 holding a smaller length", start);
    } else if (b === 0xc6) {
      n = this.u32();
      if (n <= 0xffff) this.fail("msgpack_non_canonical", "bin32 holding a smaller length", start);
    } else {
      this.pos = start;
      return this.unexpected("bin", b);
    }
    this.need(n);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  bool(): boolean {
    const b = this.peekByte();
    if (b === 0xc2 || b === 0xc3) {
      this.pos++;
      return b === 0xc3;
    }
    return this.unexpected("bool", b);
  }

  nil(): void {
    const b = this.peekByte();
    if (b !== 0xc0) this.unexpected("nil", b);
    this.pos++;
  }

  /** Read an array header; refuses lengths the remaining bytes cannot hold. */
  array(): number {
    const n = this.containerHeader(0x90, 0xdc, 0xdd, "array");
    if (n > this.buf.length - this.pos) this.fail("msgpack_truncated", `array of ${n} items exceeds input`);
    return n;
  }

  /** Read a map header; refuses lengths the remaining bytes cannot hold. */
  map(): number {
    const n = this.containerHeader(0x80, 0xde, 0xdf, "map");
    if (2 * n > this.buf.length - this.pos)
      this.fail("msgpack_truncated", `map of ${n} entries exceeds input`);
    return n;
  }

  private containerHeader(fix: number, c16: number, c32: number, what: MsgpackKind): number {
    const start = this.pos;
    const b = this.u8();
    if ((b & 0xf0) === fix) return b & 0x0f;
    if (b === c16) {
      const n = this.u16();
      if (n < 16) this.fail("msgpack_non_canonical", `${what}16 holding a fix length`, start);
      return n;
    }
    if (b === c32) {
      const n = this.u32();
      if (n <= 0xffff) this.fail("msgpack_non_canonical", `${what}32 holding a smaller length`, start);
      return n;
    }
    this.pos = start;
    return this.unexpected(what, b);
  }

  /**
   * Run `fn` one nesting level deeper (used by decoders of nested caveat sets,
   * e.g. IfPresent), enforcing `maxDepth`.
   */
  descend<T>(fn: () => T): T {
    if (this.depth + 1 > this.limits.maxDepth) {
      throw new LimitError("maxDepth", this.limits.maxDepth, `nesting deeper than ${this.limits.maxDepth}`);
    }
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  /**
   * The encoded bytes of the next complete value (a view into the input),
   * checked for structure (lengths, reserved bytes, depth) but not for
   * canonical form: pass-through data is kept verbatim, as Go keeps it.
   */
  rawValue(): Uint8Array {
    const start = this.pos;
    // Iterative walk: `pending` holds, per open container, the values still to read.
    const pending: number[] = [];
    let toRead = 1;
    for (;;) {
      while (toRead === 0) {
        const prev = pending.pop();
        if (prev === undefined) return this.buf.subarray(start, this.pos);
        toRead = prev;
      }
      toRead--;
      const children = this.skipHeader();
      if (children > 0) {
        if (this.depth + pending.length + 1 > this.limits.maxDepth) {
          throw new LimitError(
            "maxDepth",
            this.limits.maxDepth,
            `nesting deeper than ${this.limits.maxDepth}`,
          );
        }
        if (children > this.buf.length - this.pos) this.fail("msgpack_truncated", "container exceeds input");
        pending.push(toRead);
        toRead = children;
      }
    }
  }

  /** Consume one value's header and payload; returns the number of child values that follow. */
  private skipHeader(): number {
    const at = this.pos;
    const b = this.u8();
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return 0;
    if (b >= 0xa0 && b <= 0xbf) return this.skip(b & 0x1f);
    if (b >= 0x90 && b <= 0x9f) return b & 0x0f;
    if (b >= 0x80 && b <= 0x8f) return 2 * (b & 0x0f);
    switch (b) {
      case 0xc4:
      case 0xd9:
        return this.skip(this.u8());
      case 0xc5:
      case 0xda:
        return this.skip(this.u16());
      case 0xc6:
      case 0xdb:
        return this.skip(this.u32());
      case 0xc7:
        return this.skip(this.u8() + 1);
      case 0xc8:
        return this.skip(this.u16() + 1);
      case 0xc9:
        return this.skip(this.u32() + 1);
      case 0xca:
        return this.skip(4);
      case 0xcb:
        return this.skip(8);
      case 0xcc:
      case 0xd0:
        return this.skip(1);
      case 0xcd:
      case 0xd1:
        return this.skip(2);
      case 0xce:
      case 0xd2:
        return this.skip(4);
      case 0xcf:
      case 0xd3:
        return this.skip(8);
      case 0xd4:
        return this.skip(2);
      case 0xd5:
        return this.skip(3);
      case 0xd6:
        return this.skip(5);
      case 0xd7:
        return this.skip(9);
      case 0xd8:
        return this.skip(17);
      case 0xdc:
        return this.u16();
      case 0xdd:
        return this.u32();
      case 0xde:
        return 2 * this.u16();
      case 0xdf:
        return 2 * this.u32();
    }
    return this.fail("msgpack_malformed", "reserved byte 0xc1", at);
  }

  private skip(n: number): number {
    this.need(n);
    this.pos += n;
    return 0;
  }

  /** Throws if any bytes remain. */
  end(): void {
    if (this.pos !== this.buf.length)
      this.fail("msgpack_trailing_bytes", `${this.buf.length - this.pos} trailing bytes`);
  }

  private unexpected(want: MsgpackKind, b: number): never {
    return this.fail("msgpack_unexpected_type", `expected ${want}, found ${kindOf(b) ?? "reserved byte"}`);
  }
}

function kindOf(b: number): MsgpackKind | undefined {
  if (b <= 0x7f || b >= 0xe0) return "int";
  if (b <= 0x8f) return "map";
  if (b <= 0x9f) return "array";
  if (b <= 0xbf) return "str";
  switch (b) {
    case 0xc0:
      return "nil";
    case 0xc1:
      return undefined;
    case 0xc2:
    case 0xc3:
      return "bool";
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return "bin";
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return "ext";
    case 0xca:
    case 0xcb:
      return "float";
    case 0xd9:
    case 0xda:
    case 0xdb:
      return "str";
    case 0xdc:
    case 0xdd:
      return "array";
    case 0xde:
    case 0xdf:
      return "map";
  }
  // 0xcc–0xcf, 0xd0–0xd3
  return "int";
}

/** Encode a single value with a fresh writer. */
export function encodeWith(fn: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter();
  fn(w);
  return w.finish();
}
