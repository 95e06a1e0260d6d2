/**
 * Property: tkdb discharges petsem's read ticket only for a user bundle that may deploy the app:
 * read AND write on it ("rw"; Fly's deploy tokens grant the app rwcdC). A read-only user token of
 * the org, even with a stolen reader token's ticket, gets `forbidden`, so it cannot release the
 * app's secrets. (The original accepted any token that could read the app.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, nowS, type Rig, readerTicket, refusal, startRig } from "./tkdb-fixture.js";

const ORG = 4601n;
const APP = 31n;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("discharge-deploy");
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

const window = () => ({
  type: "ValidityWindow",
  body: { not_before: nowS() - 60, not_after: nowS() + 3600 },
});

describe("discharge needs the right to deploy", () => {
  it("a read-only user token of the org is refused a discharge; a token that may deploy the app gets one", async () => {
    const { ticket } = readerTicket(rig);
    const readOnly = await login(rig, ORG, {
      userId: 1n,
      caveats: [{ type: "Organization", body: { id: Number(ORG), mask: "r" } }, window()],
    });
    expect(
      (await refusal(rig.verifier.discharge({ ticket, userHeader: readOnly.header, org: ORG, app: APP })))
        .code,
    ).toBe("forbidden");
    const appReadOnly = await login(rig, ORG, {
      userId: 1n,
      caveats: [
        { type: "Organization", body: { id: Number(ORG), mask: "rwcdC" } },
        { type: "Apps", body: { apps: { [String(APP)]: "r" } } },
        window(),
      ],
    });
    expect(
      (await refusal(rig.verifier.discharge({ ticket, userHeader: appReadOnly.header, org: ORG, app: APP })))
        .code,
    ).toBe("forbidden");
    const deployer = await login(rig, ORG, {
      userId: 1n,
      caveats: [
        { type: "Organization", body: { id: Number(ORG), mask: "rwcdC" } },
        { type: "Apps", body: { apps: { [String(APP)]: "rw" } } },
        window(),
      ],
    });
    const d = await rig.verifier.discharge({ ticket, userHeader: deployer.header, org: ORG, app: APP });
    expect(d.startsWith("fm2_")).toBe(true);
  });
});
