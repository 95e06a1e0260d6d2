import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Decode, hexDecode, hexEncode } from "../src/encoding.js";
import { LimitError, MacaroonError, MsgpackError } from "../src/errors.js";
import { MsgpackReader, MsgpackWriter } from "../src/msgpack.js";
import { fixed, generatorFiles } from "./vectors.js";

const enc = (fn: (w: MsgpackWriter) => void) => {
  const w = new MsgpackWriter(1);
  fn(w);
  return hexEncode(w.finish());
};

describe("MsgpackWriter writes vmihailenco v5.3.5 compact forms", () => {
  it.each([
    [0, "00"],
    [127, "7f"],
    [128, "cc80"],
    [255, "ccff"],
    [256, "cd0100"],
    [1234, "cd04d2"],
    [65535, "cdffff"],
    [65536, "ce00010000"],
    [1700000000, "ce6553f100"],
    [0xffffffff, "ceffffffff"],
    [2 ** 32, "cf0000000100000000"],
  ])("uint %s → %s", (v, hex) => {
    expect(enc((w) => w.uint(v))).toBe(hex);
    expect(enc((w) => w.uint(BigInt(v)))).toBe(hex);
    expect(enc((w) => w.int(v))).toBe(hex);
  });

  it("uint64 max and user-defined caveat types use cf", () => {
    expect(enc((w) => w.uint((1n << 64n) - 1n))).toBe("cfffffffffffffffff");
    expect(enc((w) => w.uint(1n << 48n))).toBe("cf0001000000000000");
  });

  it.each([
    [-1, "ff"],
    [-32, "e0"],
    [-33, "d0df"],
    [-123, "d085"],
    [-128, "d080"],
    [-129, "d1ff7f"],
    [-32768, "d18000"],
    [-32769, "d2ffff7fff"],
    [-(2 ** 31), "d280000000"],
    [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
  ])("negative int %s → %s", (v, hex) => {
    expect(enc((w) => w.int(v))).toBe(hex);
    expect(enc((w) => w.int(BigInt(v)))).toBe(hex);
  });

  it("strings use fixstr < 32, str8 < 256, str16, str32", () => {
    expect(enc((w) => w.str("a".repeat(31))).slice(0, 2)).toBe("bf");
    expect(enc((w) => w.str("a".repeat(32))).slice(0, 4)).toBe("d920");
    expect(enc((w) => w.str("a".repeat(256))).slice(0, 6)).toBe("da0100");
    expect(enc((w) => w.str("a".repeat(65536))).slice(0, 10)).toBe("db00010000");
    expect(enc((w) => w.str("é"))).toBe("a2c3a9");
  });

  it("bytes always use bin8/16/32", () => {
    expect(enc((w) => w.bin(new Uint8Array(0)))).toBe("c400");
    expect(enc((w) => w.bin(new Uint8Array(255))).slice(0, 4)).toBe("c4ff");
    expect(enc((w) => w.bin(new Uint8Array(256))).slice(0, 6)).toBe("c50100");
    expect(enc((w) => w.bin(new Uint8Array(65536))).slice(0, 10)).toBe("c600010000");
  });

  it("array and map headers switch at 16 and 65536", () => {
    expect(enc((w) => w.array(15))).toBe("9f");
    expect(enc((w) => w.array(16))).toBe("dc0010");
    expect(enc((w) => w.array(38))).toBe("dc0026");
    expect(enc((w) => w.array(65536))).toBe("dd00010000");
    expect(enc((w) => w.map(15))).toBe("8f");
    expect(enc((w) => w.map(16))).toBe("de0010");
    expect(enc((w) => w.nil().bool(true).bool(false))).toBe("c0c3c2");
  });

  it("refuses values outside the integer ranges", () => {
    expect(() => new MsgpackWriter().uint(-1)).toThrow(MsgpackError);
    expect(() => new MsgpackWriter().uint(1n << 64n)).toThrow(MsgpackError);
    expect(() => new MsgpackWriter().int(-(1n << 63n) - 1n)).toThrow(MsgpackError);
    expect(() => new MsgpackWriter().uint(1.5)).toThrow(MsgpackError);
  });
});

const rd = (hex: string) => new MsgpackReader(hexDecode(hex));

describe("MsgpackReader accepts only canonical forms", () => {
  it.each([
    ["cc05", "uint8 holding fixint"],
    ["cd00ff", "uint16 holding uint8"],
    ["ce0000ffff", "uint32 holding uint16"],
    ["cf00000000ffffffff", "uint64 holding uint32"],
  ])("uint refuses %s (%s)", (hex) => {
    expect(() => rd(hex).uint()).toThrow(expect.objectContaining({ code: "msgpack_non_canonical" }));
    expect(() => rd(hex).int()).toThrow(expect.objectContaining({ code: "msgpack_non_canonical" }));
  });

  it.each([
    ["d0e0", "int8 holding negative fixint"],
    ["d005", "int8 holding a positive value"],
    ["d1ff80", "int16 holding int8"],
    ["d2ffff8000", "int32 holding int16"],
    ["d3ffffffff80000000", "int64 holding int32"],
    ["d30000000000000001", "int64 holding positive"],
  ])("int refuses %s (%s)", (hex) => {
    expect(() => rd(hex).int()).toThrow(expect.objectContaining({ code: "msgpack_non_canonical" }));
  });

  it("uint refuses negative values and int refuses uint64 above int64", () => {
    expect(() => rd("ff").uint()).toThrow(expect.objectContaining({ code: "msgpack_out_of_range" }));
    expect(() => rd("d085").uint()).toThrow(expect.objectContaining({ code: "msgpack_out_of_range" }));
    expect(() => rd("cfffffffffffffffff").int()).toThrow(
      expect.objectContaining({ code: "msgpack_out_of_range" }),
    );
    expect(rd("cfffffffffffffffff").uint()).toBe((1n << 64n) - 1n);
    expect(rd("d085").int()).toBe(-123n);
  });

  it("str refuses long headers for short strings, invalid UTF-8 and bin", () => {
    expect(() => rd("d90161").str()).toThrow(expect.objectContaining({ code: "msgpack_non_canonical" }));
    expect(() => rd("da001f" + "61".repeat(31)).str()).toThrow(
      expect.objectContaining({ code: "msgpack_non_canonical" }),
    );
    expect(() => rd("a2c328").str()).toThrow(expect.objectContaining({ code: "msgpack_invalid_utf8" }));
    expect(() => rd("c40161").str()).toThrow(expect.objectContaining({ code: "msgpack_unexpected_type" }));
    expect(rd("d920" + "61".repeat(32)).str()).toBe("a".repeat(32));
  });

  it("bin refuses str (str where bin is expected) and long headers", () => {
    expect(() => rd("a161").bin()).toThrow(expect.objectContaining({ code: "msgpack_unexpected_type" }));
    expect(() => rd("c5000161").bin()).toThrow(expect.objectContaining({ code: "msgpack_non_canonical" }));
  });

  it("array/map refuse long headers and lengths the input cannot hold", () => {
    expect(() => rd("dc000100").array()).toThrow(expect.objectContaining({ code: "msgpack_non_canonical" }));
    expect(() => rd("de000100").map()).toThrow(expect.objectContaining({ code: "msgpack_non_canonical" }));
    expect(() => rd("dd001e8480").array()).toThrow(expect.objectContaining({ code: "msgpack_truncated" }));
    expect(() => rd("93c0c0").array()).toThrow(expect.objectContaining({ code: "msgpack_truncated" }));
    expect(() => rd("82c0c0c0").map()).toThrow(expect.objectContaining({ code: "msgpack_truncated" }));
  });

  it("truncated values and trailing bytes are errors", () => {
    expect(() => rd("cd04").uint()).toThrow(expect.objectContaining({ code: "msgpack_truncated" }));
    expect(() => rd("a3616263").str()).not.toThrow();
    expect(() => rd("a36162").str()).toThrow(expect.objectContaining({ code: "msgpack_truncated" }));
    const r = rd("0102");
    r.uint();
    expect(() => r.end()).toThrow(expect.objectContaining({ code: "msgpack_trailing_bytes" }));
  });

  it("peek names kinds and refuses the reserved byte c1", () => {
    expect(
      ["c0", "c3", "05", "a0", "c400", "90", "80", "ca00000000", "d40100"].map((h) => rd(h).peek()),
    ).toEqual(["nil", "bool", "int", "str", "bin", "array", "map", "float", "ext"]);
    expect(() => rd("c1").peek()).toThrow(expect.objectContaining({ code: "msgpack_malformed" }));
  });

  it("rawValue returns one complete value and enforces the depth limit", () => {
    const r = rd("92a161cd1234c3");
    expect(hexEncode(r.rawValue())).toBe("92a161cd1234");
    expect(r.bool()).toBe(true);
    r.end();
    const deep = `${"91".repeat(40)}c0`;
    expect(() => rd(deep).rawValue()).toThrow(LimitError);
    expect(() => new MsgpackReader(hexDecode(deep), { maxDepth: 64 }).rawValue()).not.toThrow();
    expect(() => rd("92c0").rawValue()).toThrow(MsgpackError);
  });

  it("refuses input larger than maxBytes before reading", () => {
    expect(() => new MsgpackReader(new Uint8Array(100), { maxBytes: 99 })).toThrow(LimitError);
  });

  it("reads back every caveat body in the shared vectors' raw form", () => {
    for (const [, v] of generatorFiles) {
      for (const b64 of Object.values(v.caveats)) {
        const bytes = base64Decode(b64);
        const r = new MsgpackReader(bytes);
        expect(r.array()).toBe(2);
        r.uint();
        r.rawValue();
        r.end();
      }
    }
    expect(fixed.chain.steps.length).toBe(19);
  });

  it("property: writer output is read back identically (uint/int/str/bin)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
        fc.string({ unit: "grapheme" }),
        fc.uint8Array({ maxLength: 300 }),
        (u, i, s, b) => {
          const bytes = new MsgpackWriter().uint(u).int(i).str(s).bin(b).finish();
          const r = new MsgpackReader(bytes);
          expect(r.uint()).toBe(u);
          expect(r.int()).toBe(i);
          expect(r.str()).toBe(s);
          expect(r.bin()).toEqual(b);
          r.end();
        },
      ),
      { numRuns: 200 },
    );
  });

  it("property: reading random bytes only throws MacaroonError subclasses", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        for (const op of [
          "uint",
          "int",
          "str",
          "bin",
          "array",
          "map",
          "rawValue",
          "bool",
          "nil",
          "peek",
        ] as const) {
          try {
            new MsgpackReader(b)[op]();
          } catch (e) {
            expect(e).toBeInstanceOf(MacaroonError);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
