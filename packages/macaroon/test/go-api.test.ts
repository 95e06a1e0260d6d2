/**
 * What a user of superfly/macaroon (Go) reaches for, and the one trap it used to hold:
 * Go's `Bind(parent []byte)` takes the ENCODED parent token; our old `bindToParent(bytes)` read
 * bytes as the parent's tail, so a Go user's call produced a discharge that was always refused.
 */
import { describe, expect, it } from "vitest";
import { BindToParentToken, caveatSetToJSON, ValidityWindow } from "../src/caveat.js";
import { base64Encode } from "../src/encoding.js";
import { CaveatError, FormatError, MacaroonError, VerificationError } from "../src/errors.js";
import { goMap, stringifyGoJSON } from "../src/gojson.js";
import { encodeAuthorizationHeader, parsePermissionAndDischargeTokens } from "../src/header.js";
import { dischargeTicket, kidForKey, Macaroon, newKey } from "../src/macaroon.js";
import { userCav, userRegistry } from "./helpers.js";

const LOC = "https://api.fly.io/v1";
const AUTH = "https://api.fly.io/aaa/v1";
const OTHER = "https://approvals.example";
const key = newKey();
const ka = newKey();
const mint = () => Macaroon.mint({ key, kid: kidForKey(key), location: LOC, registry: userRegistry });

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** A parent with one 3P caveat, attenuated after it, and a fresh discharge for it. */
function parentAndDischarge() {
  const parent = mint().add(userCav(1n));
  const ticket = parent.add3P(ka, AUTH);
  parent.add(userCav(2n));
  const { discharge } = dischargeTicket(ka, AUTH, ticket, { registry: userRegistry });
  discharge.add(ValidityWindow.fromNow(60));
  return { parent, discharge };
}

const verifies = (parentBytes: Uint8Array, dischargeBytes: Uint8Array) =>
  Macaroon.decodeUnverified(parentBytes, { registry: userRegistry }).verify(key, {
    discharges: [dischargeBytes],
  });

describe("binding: Go's Bind(parentTokenBytes) and the tail form cannot be confused", () => {
  it("bind(encoded parent token) — what a Go user passes — gives a discharge the parent accepts", () => {
    const { parent, discharge } = parentAndDischarge();
    const parentBytes = parent.encode();
    discharge.bind(parentBytes);
    expect(verifies(parentBytes, discharge.encode())).toHaveLength(3);
  });

  it("bind(fm2_ string), bindToParentMacaroon(parent) and bindToParentTail(tail) add the same binding caveat", () => {
    const { parent } = parentAndDischarge();
    const ids = [
      (d: Macaroon) => d.bind(parent.encode()),
      (d: Macaroon) => d.bind(parent.toString()),
      (d: Macaroon) => d.bindToParentMacaroon(parent),
      (d: Macaroon) => d.bindToParentTail(parent.unsafeTail()),
    ].map((f) => {
      const { discharge } = parentAndDischarge();
      f(discharge);
      const bind = discharge.unsafeCaveats.find((c) => c instanceof BindToParentToken) as BindToParentToken;
      return base64Encode(bind.bindingId);
    });
    expect(new Set(ids).size).toBe(1);
  });

  it("token bytes given where a tail is expected are refused (bad_argument), not silently bound to nothing", () => {
    const { parent, discharge } = parentAndDischarge();
    const e = errorOf(() => discharge.bindToParentTail(parent.encode()));
    expect(e).toBeInstanceOf(CaveatError);
    expect((e as CaveatError).code).toBe("bad_argument");
    expect(discharge.unsafeCaveats.some((c) => c instanceof BindToParentToken)).toBe(false);
  });

  it("a tail given where a token is expected is refused (it does not decode as a token)", () => {
    const { parent, discharge } = parentAndDischarge();
    expect(errorOf(() => discharge.bind(parent.unsafeTail()))).toBeInstanceOf(MacaroonError);
    expect(discharge.unsafeCaveats.some((c) => c instanceof BindToParentToken)).toBe(false);
  });

  it("the deprecated bindToParent takes only a Macaroon: bytes are refused as ambiguous", () => {
    const { parent, discharge } = parentAndDischarge();
    const e = errorOf(() => discharge.bindToParent(parent.unsafeTail() as unknown as Macaroon));
    expect((e as CaveatError).code).toBe("bad_argument");
    discharge.bindToParent(parent);
    const parentBytes = parent.encode();
    expect(verifies(parentBytes, discharge.encode())).toHaveLength(3);
  });

  it("a discharge bound with bind() is refused by an earlier, less attenuated version of the parent", () => {
    const { parent, discharge } = parentAndDischarge();
    const before = parent.encode();
    const later = Macaroon.decodeUnverified(before, { registry: userRegistry }).add(userCav(3n));
    discharge.bind(later.encode());
    const e = errorOf(() => verifies(before, discharge.encode()));
    expect(e).toBeInstanceOf(VerificationError);
  });
});

describe("thirdPartyTickets(existingDischarges) and ticketsForThirdParty (Go AllThirdPartyTickets, TicketsForThirdParty)", () => {
  const parent = mint();
  const tAuth = parent.add3P(ka, AUTH);
  const tOther = parent.add3P(ka, OTHER);
  const dAuth = dischargeTicket(ka, AUTH, tAuth).discharge;
  const dAuthBytes = dAuth.encode();

  it("with no discharges, every location's tickets", () => {
    const all = parent.thirdPartyTickets();
    expect([...all.keys()]).toEqual([AUTH, OTHER]);
    expect(all.get(AUTH)).toEqual([tAuth]);
  });
  it("leaves out tickets already discharged, whether the discharge is given as bytes or as a Macaroon", () => {
    for (const d of [dAuthBytes, dAuth]) {
      const left = parent.thirdPartyTickets([d]);
      expect([...left.keys()]).toEqual([OTHER]);
      expect(parent.ticketsForThirdParty(AUTH, [d])).toEqual([]);
      expect(parent.ticketsForThirdParty(OTHER, [d])).toEqual([tOther]);
    }
  });
  it("ignores discharges that do not parse (as Go's DecodeNonce failure is ignored)", () => {
    expect([...parent.thirdPartyTickets([new Uint8Array([0xc1]), new Uint8Array(0)]).keys()]).toEqual([
      AUTH,
      OTHER,
    ]);
  });
  it("returns copies: changing a returned ticket does not change the token", () => {
    const got = parent.ticketsForThirdParty(AUTH)[0] as Uint8Array;
    got[0] = (got[0] as number) ^ 0xff;
    expect(parent.ticketsForThirdParty(AUTH)[0]).toEqual(tAuth);
  });
});

describe("parsePermissionAndDischargeTokens (Go ParsePermissionAndDischargeTokens)", () => {
  const perm = mint();
  const ticket = perm.add3P(ka, AUTH);
  const dis = dischargeTicket(ka, AUTH, ticket).discharge;

  it("returns the one permission token and the discharges, whatever their order", () => {
    const header = encodeAuthorizationHeader([dis, perm]);
    const { permission, discharges } = parsePermissionAndDischargeTokens(header, LOC, {
      registry: userRegistry,
    });
    expect(permission.bytes).toEqual(perm.encode());
    expect(discharges.map((d) => d.macaroon.location)).toEqual([AUTH]);
  });
  it("refuses a header with no permission token for the location (invalid_request)", () => {
    const e = errorOf(() => parsePermissionAndDischargeTokens(encodeAuthorizationHeader([dis]), LOC));
    expect(e).toBeInstanceOf(FormatError);
    expect((e as FormatError).code).toBe("invalid_request");
  });
  it("refuses a header with several permission tokens (which one to verify would be ambiguous)", () => {
    const header = encodeAuthorizationHeader([perm, mint(), dis]);
    const e = errorOf(() => parsePermissionAndDischargeTokens(header, LOC));
    expect(e).toBeInstanceOf(FormatError);
    expect((e as FormatError).code).toBe("invalid_request");
    expect((e as Error).message).not.toContain(base64Encode(perm.encode()));
  });
  it("ignores non-macaroon and malformed tokens, as the lenient header parser does", () => {
    const header = `FlyV1 fo1_abc,fm2_!!!,${perm.toString()}`;
    expect(parsePermissionAndDischargeTokens(header, LOC).discharges).toEqual([]);
  });
});

describe("stringifyGoJSON: encoding/json's writer", () => {
  it("sorts Map and goMap keys byte-wise, keeps struct (plain object) order", () => {
    expect(
      stringifyGoJSON(
        new Map<string | number, number>([
          ["b", 1],
          [10, 2],
          ["9", 3],
        ]),
      ),
    ).toBe('{"10":2,"9":3,"b":1}');
    expect(stringifyGoJSON({ z: 1, a: goMap({ z: 1, a: 2 }) })).toBe('{"z":1,"a":{"a":2,"z":1}}');
  });
  it("sorts astral characters after U+FFFF-range ones, as UTF-8 bytes do (not as UTF-16 units)", () => {
    expect(stringifyGoJSON(goMap({ "\u{1F600}": 1, "\uFF21": 2 }))).toBe('{"\uFF21":2,"\u{1F600}":1}');
  });
  it("writes a lone surrogate as U+FFFD, bytes as base64, bigint exactly; refuses NaN and exotic objects", () => {
    expect(stringifyGoJSON(["a\uD800b", new Uint8Array([0xfb, 0xff]), 2n ** 64n - 1n, -0])).toBe(
      '["a\uFFFDb","+/8=",18446744073709551615,-0]',
    );
    expect(errorOf(() => stringifyGoJSON(Number.NaN))).toBeInstanceOf(CaveatError);
    expect(errorOf(() => stringifyGoJSON(new Date(0)))).toBeInstanceOf(CaveatError);
  });
  it("refuses values nested past its depth limit (a cycle cannot hang it)", () => {
    const a: unknown[] = [];
    a.push(a);
    expect(errorOf(() => stringifyGoJSON(a))).toBeInstanceOf(CaveatError);
  });
  it("caveatSetToJSON is unchanged by the goMap mark (RPC payloads keep their JSON)", () => {
    expect(JSON.stringify(goMap({ "10": 1, "9": 2 }))).toBe('{"9":2,"10":1}');
    expect(caveatSetToJSON([new ValidityWindow(1n, 2n)])).toEqual([
      { type: "ValidityWindow", body: { not_before: 1, not_after: 2 } },
    ]);
  });
});
