/**
 * The builders a Go user reaches for instead of struct literals: apps(), organization(),
 * action(), ifPresent() take plain numbers and Go's action letters, encode exactly as the
 * classes do, and refuse (CaveatError bad_argument) anything they would otherwise round or guess.
 */
import { CaveatError, caveatSetToJSON, encodeCaveatSet } from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import {
  ActionCaveat,
  ActionRead,
  ActionStar,
  ActionWrite,
  Apps,
  action,
  apps,
  flyRegistry,
  IfPresent,
  ifPresent,
  Mutations,
  makeIfPresent,
  Organization,
  organization,
  ResourceSet,
  toAction,
  toU64,
} from "../src/index.js";
import { toHex } from "./vectors.js";

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof CaveatError ? e.code : "not a CaveatError";
  }
  return "no error";
};

describe("builders encode exactly like the classes", () => {
  it("apps() from an object, pairs or a Map equals Apps.Class over a ResourceSet (same wire bytes)", () => {
    const want = encodeCaveatSet([
      new Apps.Class(
        ResourceSet.of("uint", new Map([[20n, ActionRead | ActionWrite] as const, [300n, ActionRead]])),
      ),
    ]);
    expect(toHex(encodeCaveatSet([apps({ 20: "rw", 300: "r" })]))).toBe(toHex(want));
    expect(
      toHex(
        encodeCaveatSet([
          apps([
            [300, ActionRead],
            [20n, "rw"],
          ]),
        ]),
      ),
    ).toBe(toHex(want));
    expect(
      toHex(
        encodeCaveatSet([
          apps(
            new Map<number | string, string>([
              [20, "rw"],
              ["300", "r"],
            ]),
          ),
        ]),
      ),
    ).toBe(toHex(want));
  });
  it("organization(), action() and ifPresent() equal the class constructors", () => {
    expect(organization(1234, "rwcdC")).toEqual(new Organization(1234n, 0x1f));
    expect(action("*")).toEqual(new ActionCaveat(ActionStar));
    const ip = ifPresent([new Mutations(["createApp"])], "r");
    expect(ip).toBeInstanceOf(IfPresent);
    const want = makeIfPresent([new Mutations(["createApp"])], ActionRead, flyRegistry);
    expect(toHex(encodeCaveatSet([ip]))).toBe(toHex(encodeCaveatSet([want])));
    // The default registry names inner caveats in JSON.
    expect(caveatSetToJSON([ip], flyRegistry)).toEqual(caveatSetToJSON([want], flyRegistry));
  });
});

describe("builders refuse what they cannot represent exactly", () => {
  it("IDs: unsafe numbers, negatives, fractions, non-decimal strings and values past uint64", () => {
    expect(codeOf(() => toU64(2 ** 53))).toBe("bad_argument");
    expect(codeOf(() => toU64(-1))).toBe("bad_argument");
    expect(codeOf(() => toU64(1.5))).toBe("bad_argument");
    expect(codeOf(() => toU64("0x10"))).toBe("bad_argument");
    expect(codeOf(() => toU64("18446744073709551616"))).toBe("bad_argument");
    expect(toU64("18446744073709551615")).toBe((1n << 64n) - 1n);
    expect(codeOf(() => apps({ "-1": "r" }))).toBe("bad_argument");
  });
  it("actions: unknown letters, out-of-range bits and non-strings", () => {
    expect(codeOf(() => toAction("rx"))).toBe("bad_argument");
    expect(codeOf(() => toAction(0x10000))).toBe("bad_argument");
    expect(codeOf(() => organization(1, null as unknown as string))).toBe("bad_argument");
    expect(toAction("rwcdC")).toBe(0x1f);
  });
  it("shapes: apps() without pairs, ifPresent() without an array", () => {
    expect(codeOf(() => apps([[1, "r", "extra"]] as unknown as [number, string][]))).toBe("bad_argument");
    expect(codeOf(() => ifPresent({} as unknown as [], "r"))).toBe("bad_argument");
  });
});
