import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";

describe("public surface", () => {
  it("exports the contract the caveats package builds on", () => {
    const exported = Object.keys(api);
    const expected = [
      "MacaroonError",
      "MsgpackError",
      "FormatError",
      "VerificationError",
      "CaveatError",
      "PermissionError",
      "LimitError",
      "MsgpackWriter",
      "MsgpackReader",
      "CaveatRegistry",
      "coreRegistry",
      "UnregisteredCaveat",
      "ValidityWindow",
      "Caveat3P",
      "BindToParentToken",
      "encodeCaveatSet",
      "decodeCaveatSet",
      "caveatSetToJSON",
      "caveatSetFromJSON",
      "validateCaveats",
      "Macaroon",
      "dischargeTicket",
      "nonceUUID",
      "parseAuthorizationHeader",
      "encodeAuthorizationHeader",
      "findPermissionAndDischargeTokens",
      "parsePermissionAndDischargeTokens",
      "caveatSetToGoJSON",
      "stringifyGoJSON",
      "goMap",
      "nativeBackend",
      "nobleBackend",
    ];
    expect(exported).toEqual(expect.arrayContaining(expected));
    expect(api.coreRegistry.nameOf(11n)).toBe("3P");
    expect(api.coreRegistry.nameOf(99n)).toBe("99");
    expect(api.coreRegistry.byName("ValidityWindow")?.type).toBe(4n);
  });
});
