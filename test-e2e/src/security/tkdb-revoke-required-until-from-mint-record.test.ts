/**
 * Property: a revocation's required_until is the expiry tkdb recorded for the nonce when it minted
 * it (else none), never one read from the presented token: a holder who attenuates the token to
 * expire sooner and revokes that copy cannot shorten how long the revocation must be kept.
 * (The original never set required_until.)
 */
import { Nonce, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { key32 } from "../harness.js";
import { nowS, one, type Rig, startRig } from "./tkdb-fixture.js";

const ORG = 4401n;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("revoke-required-until");
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

describe("revoke required_until", () => {
  it("required_until is the mint-time expiry, not the attenuated token's, and none for an unknown nonce", async () => {
    const mintEnd = nowS() + 7200;
    const { token, nonce } = await rig.admin.mint(ORG, [
      { type: "ValidityWindow", body: { not_before: nowS() - 60, not_after: mintEnd } },
    ]);
    const shorter = one(token);
    shorter.add(new ValidityWindow(0n, BigInt(nowS() + 10)));
    const r = await rig.admin.revoke({ token: shorter.toString() });
    expect(r.nonce).toBe(nonce);
    expect(r.requiredUntil).toBe(mintEnd);

    const never = await rig.admin.mint(ORG, []);
    expect((await rig.admin.revoke({ nonce: never.nonce })).requiredUntil).toBeNull();
    const unknown = Buffer.from(Nonce.create(key32().slice(0, 16), false).encode()).toString("base64");
    expect((await rig.admin.revoke({ nonce: unknown })).requiredUntil).toBeNull();
  });
});
