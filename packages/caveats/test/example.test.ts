/**
 * How to define, register and check a caveat of your own (compare superfly/macaroon
 * resset/example_test.go). User-defined types live at 1<<48 and above.
 */
import {
  type Access,
  type Caveat,
  caveatSetFromJSON,
  jsonObject,
  jsonString,
  Macaroon,
  type MacaroonError,
  type MsgpackWriter,
  newKey,
  PermissionError,
  validateCaveats,
} from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import { flyRegistry } from "../src/index.js";

const CavRegion = (1n << 48n) + 1n;

class RegionAccess implements Access {
  constructor(readonly region: string) {}
  now() {
    return new Date();
  }
  validate() {}
}

class Region implements Caveat {
  readonly type = CavRegion;
  constructor(readonly region: string) {}
  encodeBody(w: MsgpackWriter) {
    w.array(1).str(this.region);
  }
  prohibits(a: Access): MacaroonError | undefined {
    if (!(a instanceof RegionAccess))
      return new PermissionError("invalid access", { code: "invalid_access" });
    return a.region === this.region
      ? undefined
      : new PermissionError("wrong region", { caveatType: this.type });
  }
  bodyJSON() {
    return { region: this.region };
  }
}

const registry = flyRegistry.extend({
  type: CavRegion,
  name: "Region",
  decodeBody: (r) => {
    r.array();
    return new Region(r.str());
  },
  fromJSON: (b) => new Region(jsonString(jsonObject(b, "Region").region, "Region.region")),
});

describe("example: a user-defined caveat", () => {
  it("is minted from JSON, survives encoding, verifies, and restricts the access", () => {
    const key = newKey();
    const token = Macaroon.mint({
      key,
      kid: new Uint8Array([1]),
      location: "https://example.test",
      registry,
      caveats: caveatSetFromJSON([{ type: "Region", body: { region: "ams" } }], registry),
    });
    const decoded = Macaroon.decodeUnverified(token.encode(), { registry });
    const verified = decoded.verify(key);
    expect(() => validateCaveats(verified, new RegionAccess("ams"))).not.toThrow();
    expect(() => validateCaveats(verified, new RegionAccess("syd"))).toThrow(PermissionError);
    // Without the registration the same token still verifies, but its caveat always prohibits.
    const plain = Macaroon.decodeUnverified(token.encode(), { registry: flyRegistry }).verify(key);
    expect(() => validateCaveats(plain, new RegionAccess("ams"))).toThrow(PermissionError);
  });
});
