import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, isAuditError } from "../src/index.js";

describe("canonicalJson", () => {
  it("sorts keys at every depth and writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("does not depend on the order keys were inserted in", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
      }),
      { seed: 14, numRuns: 200 },
    );
  });

  it("is a fixed point: canonical text parses back to the same canonical text", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(v);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { seed: 14, numRuns: 300 },
    );
  });

  it("writes a bigint as its exact digits, beyond 2^53, and can refuse bigints", () => {
    expect(canonicalJson({ n: 2n ** 70n })).toBe('{"n":1180591620717411303424}');
    expect(canonicalJson(1n)).toBe(canonicalJson(1));
    expect(() => canonicalJson({ n: 1n }, { bigint: "refuse" })).toThrow(/bigint/);
  });

  it("treats a Map with string keys as an object and leaves out undefined properties", () => {
    expect(
      canonicalJson(
        new Map([
          ["b", 1],
          ["a", 2],
        ]),
      ),
    ).toBe('{"a":2,"b":1}');
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it("refuses values without one canonical form (typed invalid_request)", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      [undefined],
      () => 1,
      Symbol("s"),
      new Uint8Array(32),
      new Date(0),
      cyclic,
      new Map([[1, 2]]),
    ]) {
      let err: unknown;
      try {
        canonicalJson(bad);
      } catch (e) {
        err = e;
      }
      expect(isAuditError(err, "invalid_request")).toBe(true);
    }
  });
});
