/**
 * tkdb's attestations (UserTokenNonce, ServiceTokenNonce): codec round trips, typed errors on bad
 * input, and the attestation rules (never authorize, never on a non-proof, only from trusted
 * discharges).
 */
import {
  CaveatError,
  caveatSetFromJSON,
  caveatSetToJSON,
  decodeCaveatSet,
  dischargeTicket,
  encodeCaveatSet,
  hexEncode,
  Macaroon,
  MacaroonError,
  Nonce,
  newKey,
  validateCaveats,
} from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import {
  ActionRead,
  BlockTkdbMax,
  BlockTkdbMin,
  CavServiceTokenNonce,
  CavUserTokenNonce,
  FlyioAccess,
  flyRegistry,
  getServiceTokenNonce,
  getUserTokenNonce,
  Organization,
  ServiceTokenNonce,
  UserTokenNonce,
} from "../src/index.js";

const kid = new Uint8Array(16).fill(7);
const nonceBytes = () => Nonce.create(kid, false).encode();

describe("tkdb attestation type numbers", () => {
  it("lie in the user-defined range, inside tkdb's block, clear of Fly's test-only types", () => {
    for (const t of [CavUserTokenNonce, CavServiceTokenNonce]) {
      expect(t >= 1n << 48n && t < (1n << 64n) - 1n).toBe(true);
      expect(t >= BlockTkdbMin && t <= BlockTkdbMax).toBe(true);
      expect(t > (1n << 48n) + 255n).toBe(true);
    }
    expect(flyRegistry.get(CavUserTokenNonce)?.isAttestation).toBe(true);
    expect(flyRegistry.get(CavServiceTokenNonce)?.isAttestation).toBe(true);
  });
});

describe("UserTokenNonce codec", () => {
  it("msgpack round-trips byte-identically as [bin nonce]", () => {
    const n = nonceBytes();
    const bytes = encodeCaveatSet([new UserTokenNonce(n)]);
    const back = decodeCaveatSet(bytes, flyRegistry);
    expect(back[0]).toBeInstanceOf(UserTokenNonce);
    expect(hexEncode((back[0] as UserTokenNonce).nonce)).toBe(hexEncode(n));
    expect(hexEncode(encodeCaveatSet(back))).toBe(hexEncode(bytes));
  });

  it("JSON round-trips as {nonce: base64 of the encoded nonce} to the same bytes", () => {
    const n = nonceBytes();
    const c = new UserTokenNonce(n);
    const json = caveatSetToJSON([c], flyRegistry);
    expect(json).toEqual([{ type: "UserTokenNonce", body: { nonce: Buffer.from(n).toString("base64") } }]);
    const back = caveatSetFromJSON(JSON.parse(JSON.stringify(json)), flyRegistry);
    expect(hexEncode(encodeCaveatSet(back))).toBe(hexEncode(encodeCaveatSet([c])));
  });

  it("refuses bodies that are not one canonical token nonce with a typed error", () => {
    const proof = Nonce.create(kid, true).encode();
    expect(() => new UserTokenNonce(proof)).toThrow(CaveatError);
    expect(() => new UserTokenNonce(new Uint8Array([1, 2, 3]))).toThrow(CaveatError);
    expect(() => new UserTokenNonce(new Uint8Array(0))).toThrow(CaveatError);
    expect(() => new UserTokenNonce(new Uint8Array([...nonceBytes(), 0]))).toThrow(CaveatError);
    expect(() =>
      caveatSetFromJSON([{ type: "UserTokenNonce", body: { nonce: "not base64!" } }], flyRegistry),
    ).toThrow(CaveatError);
    expect(() => caveatSetFromJSON([{ type: "UserTokenNonce", body: {} }], flyRegistry)).toThrow(CaveatError);
    // Every truncation of a valid encoding is a typed error, never a crash.
    const full = encodeCaveatSet([new UserTokenNonce(nonceBytes())]);
    for (let i = 0; i < full.length; i++)
      expect(() => decodeCaveatSet(full.subarray(0, i), flyRegistry)).toThrow(MacaroonError);
  });
});

describe("ServiceTokenNonce codec", () => {
  it("msgpack round-trips byte-identically as [bin nonce, uint org], big orgs too", () => {
    for (const org of [1n, 4242n, (1n << 64n) - 1n]) {
      const n = nonceBytes();
      const bytes = encodeCaveatSet([new ServiceTokenNonce(n, org)]);
      const back = decodeCaveatSet(bytes, flyRegistry);
      expect(back[0]).toBeInstanceOf(ServiceTokenNonce);
      expect((back[0] as ServiceTokenNonce).org).toBe(org);
      expect(hexEncode(encodeCaveatSet(back))).toBe(hexEncode(bytes));
    }
  });

  it("JSON round-trips as {nonce, org}", () => {
    const c = new ServiceTokenNonce(nonceBytes(), 77n);
    const json = caveatSetToJSON([c], flyRegistry);
    expect(json[0]).toEqual({ type: "ServiceTokenNonce", body: { nonce: c.nonceId, org: 77 } });
    const back = caveatSetFromJSON(JSON.parse(JSON.stringify(json)), flyRegistry);
    expect(hexEncode(encodeCaveatSet(back))).toBe(hexEncode(encodeCaveatSet([c])));
  });

  it("refuses org 0 and a bad nonce with a typed error", () => {
    expect(() => new ServiceTokenNonce(nonceBytes(), 0n)).toThrow(CaveatError);
    expect(() =>
      caveatSetFromJSON(
        [
          {
            type: "ServiceTokenNonce",
            body: { nonce: Buffer.from(nonceBytes()).toString("base64"), org: 0 },
          },
        ],
        flyRegistry,
      ),
    ).toThrow(CaveatError);
    expect(() =>
      caveatSetFromJSON([{ type: "ServiceTokenNonce", body: { nonce: "AAAA", org: 1 } }], flyRegistry),
    ).toThrow(CaveatError);
  });
});

describe("tkdb attestations are attestations", () => {
  it("cannot be added to a permission token (only proofs carry attestations)", () => {
    const m = Macaroon.mint({ key: newKey(), kid, location: "https://tkdb.test", registry: flyRegistry });
    expect(() => m.add(new UserTokenNonce(nonceBytes()))).toThrow(CaveatError);
    expect(() => m.add(new ServiceTokenNonce(nonceBytes(), 1n))).toThrow(CaveatError);
  });

  it("never authorize: validation skips them, and asked directly they refuse", () => {
    const access = new FlyioAccess({ action: ActionRead, orgId: 1n });
    const u = new UserTokenNonce(nonceBytes());
    expect(() => validateCaveats([new Organization(1n, ActionRead), u], access)).not.toThrow();
    expect(u.prohibits()).toBeInstanceOf(MacaroonError);
    expect(new ServiceTokenNonce(nonceBytes(), 1n).prohibits()).toBeInstanceOf(MacaroonError);
  });

  it("count only from a trusted third party's discharge", () => {
    const rootKey = newKey();
    const ka = newKey();
    const loc = "https://tkdb.test/3p";
    const perm = Macaroon.mint({ key: rootKey, kid, location: "https://petsem.test", registry: flyRegistry });
    perm.add(new Organization(5n, ActionRead));
    const ticket = perm.add3P(ka, loc);
    const userNonce = nonceBytes();
    const { discharge } = dischargeTicket(ka, loc, ticket, { registry: flyRegistry });
    discharge.add(new UserTokenNonce(userNonce), new ServiceTokenNonce(nonceBytes(), 5n));
    const d = discharge.encode();
    const untrusted = perm.verify(rootKey, { discharges: [d] });
    expect(getUserTokenNonce(untrusted)).toBeUndefined();
    expect(getServiceTokenNonce(untrusted)).toBeUndefined();
    const trusted = perm.verify(rootKey, { discharges: [d], trusted3Ps: new Map([[loc, [ka]]]) });
    expect(hexEncode(getUserTokenNonce(trusted)?.nonce ?? new Uint8Array())).toBe(hexEncode(userNonce));
    expect(getServiceTokenNonce(trusted)?.org).toBe(5n);
  });
});
