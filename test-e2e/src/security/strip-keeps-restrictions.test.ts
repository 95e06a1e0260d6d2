/**
 * Property: strip's output keeps every restriction the user had. Removed: only the auth 3P caveat,
 * attestations, tkdb's own mint-time ValidityWindow and the auth discharge's window (the login's
 * freshness). Kept: the holder's later caveats (a window they added included) and the auth
 * discharge's own restrictions. (The original strip dropped every window, the holder's too.)
 */
import { flyRegistry } from "@tkdb/caveats";
import { caveatSetFromJSON, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, nowS, one, type Rig, startRig } from "./tkdb-fixture.js";

const ORG = 4201n;
const apps = (mask: string) =>
  caveatSetFromJSON([{ type: "Apps", body: { apps: { "12": mask } } }], flyRegistry);
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("strip-keeps");
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

describe("strip output", () => {
  it("strip keeps the holder's window and restrictions and the auth discharge's restrictions, dropping only the login's", async () => {
    const mintEnd = nowS() + 3600;
    const holderEnd = BigInt(nowS() + 7 * 86400);
    const u = await login(rig, ORG, {
      userId: 5n,
      caveats: [
        { type: "Organization", body: { id: Number(ORG), mask: "rwcdC" } },
        { type: "ValidityWindow", body: { not_before: nowS() - 60, not_after: mintEnd } },
      ],
      // The holder confines the token to one app and to a week, before it is stripped.
      attenuate: [...apps("r"), new ValidityWindow(0n, holderEnd)],
      // The auth service confines its discharge to app 12 too (its own restriction).
      authCaveats: apps("rw"),
    });
    const s = await rig.admin.strip(u.header);
    const v = await rig.verifier.verify(`FlyV1 ${s.token}`);
    const json = v.caveats.map((c) => ({ type: c.constructor.name, c }));
    const windows = v.caveats.filter((c): c is ValidityWindow => c instanceof ValidityWindow);
    // the holder's window stays; the mint-time one (mintEnd) and the auth discharge's are gone
    expect(windows.map((w) => w.notAfter)).toEqual([holderEnd]);
    // Organization (mint), the holder's Apps, the auth discharge's Apps: all kept, in that order
    expect(json.map((j) => j.type)).toEqual(["Organization", "Apps", "ValidityWindow", "Apps"]);
    // no attestation and no third-party caveat survives
    const token = one(s.token);
    expect(token.unsafeCaveats.some((c) => c.isAttestation === true)).toBe(false);
    expect(token.thirdPartyTickets().size).toBe(0);
  });
});
