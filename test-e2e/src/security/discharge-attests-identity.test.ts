/**
 * Property: tkdb's discharge names who released the read. For a user's bundle it carries the
 * FlyioUserID of the trusted auth discharge (never an `IsUser` the holder appended) and the user
 * token's nonce (UserTokenNonce); for a stripped service token, which has no user, that token's
 * nonce and org (ServiceTokenNonce). petsem, trusting tkdb's location, reads them from the
 * verified bundle. (The original discharge carried no identity at all.)
 */
import {
  FlyioUserID,
  flyRegistry,
  getServiceTokenNonce,
  getUserTokenNonce,
  IsUser,
  type ServiceTokenNonce,
  UserTokenNonce,
} from "@tkdb/caveats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, one, type Rig, readerTicket, startRig, TKDB_LOCATION } from "./tkdb-fixture.js";

const ORG = 4901n;
const APP = 5n;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("discharge-identity");
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

/** What petsem sees: the reader token verified with tkdb's discharge, tkdb's location trusted. */
function asPetsem(reader: ReturnType<typeof readerTicket>, discharge: string) {
  return reader.reader.verify(reader.root, {
    discharges: [one(discharge)],
    trusted3Ps: new Map([[TKDB_LOCATION, [rig.petsemShared]]]),
    registry: flyRegistry,
  });
}

describe("discharge identity", () => {
  it("a user's discharge carries the auth discharge's FlyioUserID and the user token nonce, never a holder's IsUser", async () => {
    const r = readerTicket(rig);
    const u = await login(rig, ORG, { userId: 4242n, attenuate: [new IsUser(9999n)] });
    const d = await rig.verifier.discharge({ ticket: r.ticket, userHeader: u.header, org: ORG, app: APP });
    const cavs = one(d).unsafeCaveats;
    expect(cavs.filter((c) => c instanceof FlyioUserID).map((c) => (c as FlyioUserID).id)).toEqual([4242n]);
    expect(cavs.some((c) => c instanceof IsUser)).toBe(false);
    const seen = asPetsem(r, d);
    expect(getUserTokenNonce(seen)?.nonceId).toBe(u.nonce);
    expect(seen.filter((c) => c instanceof FlyioUserID).map((c) => (c as FlyioUserID).id)).toEqual([4242n]);
    expect(getServiceTokenNonce(seen)).toBeUndefined();
  });

  it("a stripped service token's discharge carries its own nonce and org and no user", async () => {
    const r = readerTicket(rig);
    const u = await login(rig, ORG, { userId: 7n });
    const s = await rig.admin.strip(u.header);
    const d = await rig.verifier.discharge({
      ticket: r.ticket,
      userHeader: `FlyV1 ${s.token}`,
      org: ORG,
      app: APP,
    });
    const seen = asPetsem(r, d);
    const st = getServiceTokenNonce(seen) as ServiceTokenNonce;
    expect(st.nonceId).toBe(s.nonce);
    expect(st.org).toBe(ORG);
    expect(seen.some((c) => c instanceof FlyioUserID || c instanceof UserTokenNonce)).toBe(false);
  });
});
