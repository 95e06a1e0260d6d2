import { describe, expect, it } from "vitest";
import { ValidityWindow } from "../src/caveat.js";
import { base64Encode } from "../src/encoding.js";
import { FormatError, LimitError } from "../src/errors.js";
import {
  encodeAuthorizationHeader,
  findPermissionAndDischargeTokens,
  parseAuthorizationHeader,
  stripAuthorizationScheme,
} from "../src/header.js";
import { Macaroon, newKey, tokenStringToBytes } from "../src/macaroon.js";
import { fixed } from "./vectors.js";

const LOC = "https://api.fly.io/v1";

describe("Authorization header", () => {
  const key = newKey();
  const perm = Macaroon.mint({
    key,
    kid: new Uint8Array([1, 2]),
    location: LOC,
    caveats: [new ValidityWindow(1n, 2n)],
  });
  const other = Macaroon.mint({ key, kid: new Uint8Array([3]), location: "https://api.fly.io/aaa/v1" });
  const permStr = perm.toString();
  const b64 = permStr.slice(4);

  it("strips FlyV1 and Bearer schemes case-insensitively and recursively", () => {
    expect(stripAuthorizationScheme("  FlyV1 abc ")).toBe("abc");
    expect(stripAuthorizationScheme("Bearer FlyV1 abc")).toBe("abc");
    expect(stripAuthorizationScheme("bearer  flyv1\tbearer abc")).toBe("abc");
    expect(stripAuthorizationScheme("FlyV1x abc")).toBe("FlyV1x abc");
  });

  it("encodes as 'FlyV1 ' + comma-joined fm2_ std-base64 tokens", () => {
    const h = encodeAuthorizationHeader([perm, other.encode()]);
    expect(h).toBe(`FlyV1 ${permStr},fm2_${base64Encode(other.encode())}`);
    expect(fixed.third_party.header.startsWith("FlyV1 fm2_")).toBe(true);
  });

  it("accepts fm2_, fm1r_ and fm1a_, trims tokens, keeps fo1_ aside and malformed tokens with their error", () => {
    const h = `Bearer FlyV1 fm1r_${b64} , fo1_oauth,fm1a_${b64},fm2_!!!!,fm2_${base64Encode(new Uint8Array([0x94, 0xc0]))},junk`;
    const toks = parseAuthorizationHeader(h);
    expect(toks.map((t) => t.kind)).toEqual([
      "macaroon",
      "non_macaroon",
      "macaroon",
      "malformed",
      "malformed",
      "non_macaroon",
    ]);
    expect(toks[1]).toEqual({ kind: "non_macaroon", str: "fo1_oauth" });
    const bad = toks[3];
    expect(bad?.kind === "malformed" && bad.error.code).toBe("bad_base64");
    const bad2 = toks[4];
    expect(bad2?.kind === "malformed" && bad2.error.name).toBe("MsgpackError");
    expect(parseAuthorizationHeader("FlyV1 ")).toEqual([]);
  });

  it("splits permission tokens (by location) from discharge candidates", () => {
    const toks = parseAuthorizationHeader(encodeAuthorizationHeader([other, perm]) + ",fo1_x,fm2_AA==");
    const { permissionTokens, dischargeTokens } = findPermissionAndDischargeTokens(toks, LOC);
    expect(permissionTokens.map((t) => t.str)).toEqual([permStr]);
    expect(dischargeTokens.map((t) => t.macaroon.location)).toEqual(["https://api.fly.io/aaa/v1"]);
  });

  it("refuses oversized headers and too many tokens before decoding anything", () => {
    expect(() => parseAuthorizationHeader(`FlyV1 ${"A".repeat(70_000)}`)).toThrow(LimitError);
    expect(() => parseAuthorizationHeader(`FlyV1 ${Array(40).fill(permStr).join(",")}`)).toThrow(
      expect.objectContaining({ limit: "maxTokens" }),
    );
    expect(
      parseAuthorizationHeader(`FlyV1 ${Array(40).fill(permStr).join(",")}`, { limits: { maxTokens: 40 } }),
    ).toHaveLength(40);
  });

  it("token strings need a known prefix, valid padded base64 and content", () => {
    expect(tokenStringToBytes(permStr)).toEqual(perm.encode());
    expect(() => tokenStringToBytes(`fo1_${b64}`)).toThrow(FormatError);
    expect(() => tokenStringToBytes(b64)).toThrow(expect.objectContaining({ code: "unknown_prefix" }));
    expect(() => tokenStringToBytes(`fm2_${b64.slice(0, -1)}*`)).toThrow(FormatError);
    expect(() => tokenStringToBytes(`fm2_${b64}A`)).toThrow(FormatError);
    expect(() => tokenStringToBytes("fm2_")).toThrow(expect.objectContaining({ code: "blank_token" }));
    expect(() => Macaroon.fromStringUnverified(`fm2_${b64}`.replace("fm2_", "fm2_-"))).toThrow(FormatError);
  });
});
