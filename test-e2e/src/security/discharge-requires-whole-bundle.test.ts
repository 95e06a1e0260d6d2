/**
 * Property: tkdb's discharge verifies the user's whole bundle: every third-party caveat discharged,
 * no token of it revoked (the auth discharge included), every window valid now. Any gap is refused.
 */
import { flyRegistry } from "@tkdb/caveats";
import { dischargeTicket, encodeAuthorizationHeader, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { key32 } from "../harness.js";
import { login, nowS, one, type Rig, readerTicket, refusal, startRig } from "./tkdb-fixture.js";

const ORG = 4701n;
const APP = 3n;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("discharge-bundle");
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

describe("discharge verifies the whole bundle", () => {
  it("an undischarged third party, an expired or revoked auth discharge, or a holder window not yet open is refused", async () => {
    const { ticket } = readerTicket(rig);
    const ask = (userHeader: string) => rig.verifier.discharge({ ticket, userHeader, org: ORG, app: APP });
    const ok = await login(rig, ORG, { userId: 3n });
    expect((await ask(ok.header)).startsWith("fm2_")).toBe(true);

    // 1. another third party's caveat without its discharge
    const perm = one(ok.permission.toString());
    const approvalKey = key32();
    const t = perm.add3P(approvalKey, "https://approvals.example.test/v1");
    expect((await refusal(ask(encodeAuthorizationHeader([perm, ok.discharge])))).code).toBe("unauthorized");
    // ... discharged, it passes (the approval service's discharge, valid now)
    const approval = dischargeTicket(approvalKey, "https://approvals.example.test/v1", t, {
      registry: flyRegistry,
    }).discharge;
    approval.add(new ValidityWindow(BigInt(nowS() - 5), BigInt(nowS() + 120)));
    expect((await ask(encodeAuthorizationHeader([perm, ok.discharge, approval]))).startsWith("fm2_")).toBe(
      true,
    );

    // 2. an expired auth discharge
    const expired = await login(rig, ORG, { userId: 3n, authValidFor: -5 });
    expect(["unauthorized", "forbidden"]).toContain((await refusal(ask(expired.header))).code);

    // 3. a revoked auth discharge (the login session ended), the user token itself untouched
    const session = await login(rig, ORG, { userId: 3n });
    await rig.admin.revoke({ nonce: Buffer.from(session.discharge.nonce.encode()).toString("base64") });
    expect((await refusal(ask(session.header))).code).toBe("revoked");

    // 4. a window the holder added that has not opened yet
    const later = await login(rig, ORG, {
      userId: 3n,
      attenuate: [new ValidityWindow(BigInt(nowS() + 600), BigInt(nowS() + 1200))],
    });
    expect(["unauthorized", "forbidden"]).toContain((await refusal(ask(later.header))).code);
  });
});
