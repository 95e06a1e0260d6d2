/** Wrong types, truncations and bit flips give a typed MacaroonError, never a crash. */
import { caveatSetFromJSON, decodeCaveatSet, encodeCaveatSet, MacaroonError } from "@tkdb/macaroon";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { flyRegistry } from "../src/index.js";
import { hex, loadVectors } from "./vectors.js";

interface Fixed {
  chain: { steps: { caveat_name: string; packed_caveat_hex: string }[] };
}
const steps = loadVectors<Fixed>("fixed_vectors.json").chain.steps;

function outcome(f: () => unknown): "ok" | "typed" {
  try {
    f();
    return "ok";
  } catch (e) {
    if (e instanceof MacaroonError) return "typed";
    throw e;
  }
}

describe("bad msgpack", () => {
  for (const step of steps) {
    it(`${step.caveat_name}: every truncation is refused with a typed error`, () => {
      const bytes = hex(step.packed_caveat_hex);
      for (let n = 0; n < bytes.length; n++)
        expect(outcome(() => decodeCaveatSet(bytes.subarray(0, n), flyRegistry))).toBe("typed");
    });
  }
  it("bit flips either decode to a set that re-encodes to the flipped bytes or fail typed", () => {
    const all = steps.map((s) => hex(s.packed_caveat_hex));
    fc.assert(
      fc.property(fc.nat(all.length - 1), fc.nat(), fc.integer({ min: 0, max: 7 }), (i, pos, bit) => {
        const b = (all[i] as Uint8Array).slice();
        const at = pos % b.length;
        b[at] = (b[at] as number) ^ (1 << bit);
        let cavs: ReturnType<typeof decodeCaveatSet> | undefined;
        if (outcome(() => (cavs = decodeCaveatSet(b, flyRegistry))) === "ok" && cavs)
          expect(outcome(() => encodeCaveatSet(cavs ?? []))).toBe("ok");
      }),
      { numRuns: 300 },
    );
  });
});

describe("bad JSON", () => {
  const names = steps.map((s) => s.caveat_name.split(/[^A-Za-z0-9]/)[0] ?? "");
  const junk = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.string(),
    fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }),
    fc.dictionary(
      fc.constantFrom("id", "mask", "apps", "ops", "org", "app", "ifs", "else", "args"),
      fc.anything(),
    ),
  );
  it("any body for any type name parses or fails with a typed error", () => {
    fc.assert(
      fc.property(fc.constantFrom(...names, "SecretOps", "SecretScope", "IfPresent"), junk, (type, body) => {
        outcome(() => caveatSetFromJSON([{ type, body }], flyRegistry));
      }),
      { numRuns: 500 },
    );
  });
  it("a JSON set that is not an array of {type, body} is refused", () => {
    for (const bad of [null, 1, "x", {}, [1], [{ type: 5 }], [{ type: "NoSuchCaveat", body: {} }]])
      expect(outcome(() => caveatSetFromJSON(bad as never, flyRegistry))).toBe("typed");
  });
});
