/**
 * Property: a discharge tkdb issues lives at most 5 minutes and never past the user bundle's
 * earliest expiry; tkdb refuses to start with a longer configured TTL. (The original accepted a
 * TTL of a day and ended every discharge at now + TTL, past a login that expired sooner.)
 */
import { ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService } from "../harness.js";
import { login, one, type Rig, readerTicket, startRig } from "./tkdb-fixture.js";

const ORG = 4801n;
const APP = 8n;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("discharge-lifetime", { env: { TKDB_DISCHARGE_TTL: "300" } });
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

const windowOf = (discharge: string) => {
  const w = one(discharge).unsafeCaveats.filter((c): c is ValidityWindow => c instanceof ValidityWindow);
  expect(w).toHaveLength(1);
  return w[0] as ValidityWindow;
};

describe("discharge lifetime", () => {
  it("a discharge's window is at most 300 s and ends no later than the bundle's earliest expiry", async () => {
    const { ticket } = readerTicket(rig);
    const long = await login(rig, ORG, { userId: 2n });
    const w1 = windowOf(
      await rig.verifier.discharge({ ticket, userHeader: long.header, org: ORG, app: APP }),
    );
    expect(w1.notAfter - w1.notBefore <= 300n).toBe(true);
    // The login's auth discharge ends in 40 s: the discharge ends with it, not 300 s later.
    const short = await login(rig, ORG, { userId: 2n, authValidFor: 40 });
    const authEnd = (short.discharge.unsafeCaveats.find((c) => c instanceof ValidityWindow) as ValidityWindow)
      .notAfter;
    const w2 = windowOf(
      await rig.verifier.discharge({ ticket, userHeader: short.header, org: ORG, app: APP }),
    );
    expect(w2.notAfter <= authEnd).toBe(true);
  });

  it("tkdb refuses to start with a discharge TTL above 300 s", async () => {
    const env = { ...rig.env, TKDB_DATA_DIR: `${rig.env.TKDB_DATA_DIR}-ttl`, TKDB_DISCHARGE_TTL: "301" };
    await expect(startService("tkdb", env, 30_000)).rejects.toThrow(/TKDB_DISCHARGE_TTL/);
  });
});
