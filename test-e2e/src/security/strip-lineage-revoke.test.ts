/**
 * Property: revoking a user token's nonce also revokes the service tokens strip made from it (the
 * default), so a stolen login turned into permanent tokens dies with the login; `derived: false`
 * must be asked for to spare them. (The original tkdb kept no lineage: service tokens survived.)
 */
import { flyRegistry } from "@tkdb/caveats";
import { dischargeTicket, encodeAuthorizationHeader, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH_LOCATION, login, nowS, one, type Rig, refusal, startRig } from "./tkdb-fixture.js";

const ORG = 4301n;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("strip-lineage");
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

describe("strip lineage", () => {
  it("revoking a user token's nonce revokes every service token stripped from it, transitively, by default", async () => {
    const u = await login(rig, ORG, { userId: 9n });
    const s1 = await rig.admin.strip(u.header);
    const s2 = await rig.admin.strip(u.header);
    expect((await rig.verifier.verify(`FlyV1 ${s1.token}`)).nonce).toBe(s1.nonce);
    // A service token put behind a login again and stripped again: a grandchild of the user token.
    const relogged = one(s1.token);
    const ticket = relogged.add3P(rig.authKey, AUTH_LOCATION);
    const d = dischargeTicket(rig.authKey, AUTH_LOCATION, ticket, { registry: flyRegistry }).discharge;
    d.add(new ValidityWindow(BigInt(nowS() - 5), BigInt(nowS() + 600)));
    const s3 = await rig.admin.strip(encodeAuthorizationHeader([relogged, d]));

    const r = await rig.admin.revoke({ nonce: u.nonce });
    expect([...r.derived].sort()).toEqual([s1.nonce, s2.nonce, s3.nonce].sort());
    for (const s of [s1, s2, s3])
      expect((await refusal(rig.verifier.verify(`FlyV1 ${s.token}`))).code).toBe("revoked");
    const feed = await rig.verifier.revocations(undefined, 5000);
    expect(feed.nonces).toEqual(expect.arrayContaining([u.nonce, s1.nonce, s2.nonce, s3.nonce]));
  });

  it("revoke with derived: false ends only the user token's lineage and leaves its service tokens valid", async () => {
    const u = await login(rig, ORG, { userId: 10n });
    const s = await rig.admin.strip(u.header);
    const r = await rig.admin.revoke({ nonce: u.nonce }, { derived: false });
    expect(r.derived).toEqual([]);
    expect((await refusal(rig.verifier.verify(u.header))).code).toBe("revoked");
    expect((await rig.verifier.verify(`FlyV1 ${s.token}`)).nonce).toBe(s.nonce);
  });
});
