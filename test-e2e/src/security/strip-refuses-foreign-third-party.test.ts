/**
 * Property: strip removes only the authentication caveat. A user token also confined by another
 * service's third-party caveat (an approval service), presented with a short-lived approval
 * discharge, is refused with `forbidden` naming that location, so it never becomes a permanent
 * token that needs no approval. (The original strip dropped every discharged 3P caveat.)
 */
import { flyRegistry } from "@tkdb/caveats";
import { dischargeTicket, encodeAuthorizationHeader, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { key32 } from "../harness.js";
import { login, nowS, one, type Rig, refusal, startRig } from "./tkdb-fixture.js";

const ORG = 4101n;
const APPROVALS = "https://approvals.example.test/v1";
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("strip-foreign-3p");
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

describe("strip and other third parties", () => {
  it("strip refuses a token carrying a third-party caveat outside the auth location, naming the location", async () => {
    const approvalKey = key32();
    const u = await login(rig, ORG, { userId: 77n });
    // The same user token, also confined by an approval service, with one 60 s approval.
    const perm = one(u.permission.toString());
    const ticket = perm.add3P(approvalKey, APPROVALS);
    const approval = dischargeTicket(approvalKey, APPROVALS, ticket, { registry: flyRegistry }).discharge;
    approval.add(new ValidityWindow(BigInt(nowS() - 5), BigInt(nowS() + 60)));
    const header = encodeAuthorizationHeader([perm, u.discharge, approval]);
    // The bundle is valid: tkdb verifies it (so the refusal below is strip's rule, not a bad bundle).
    expect((await rig.verifier.verify(header)).org).toBe(String(ORG));

    const r = await refusal(rig.admin.strip(header));
    expect(r.code).toBe("forbidden");
    expect(r.message).toContain(APPROVALS);
    // Without the approval caveat the same user strips fine.
    const s = await rig.admin.strip(u.header);
    expect(s.token.startsWith("fm2_")).toBe(true);
  });
});
