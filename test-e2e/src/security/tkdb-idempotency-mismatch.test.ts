/**
 * Property: a request id reused for the same op with other arguments is `idempotency_mismatch`
 * and has no effect: `revoke B` sent with the rid of `revoke A` does not answer "A revoked" while
 * B stays valid. The same request again still gets the stored answer. (The original answered the
 * stored result whatever the arguments.)
 *
 * @tkdb/client picks a fresh rid per call, so this test sends the requests over the same
 * HTTP/Noise signing API with @tkdb/noise's `noiseCall`, choosing the rid as a buggy or hostile
 * client would.
 */
import { randomBytes } from "node:crypto";
import { noiseCall } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Rig, refusal, startRig } from "./tkdb-fixture.js";

const ORG = 4501n;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig("idempotency-mismatch");
  await rig.admin.orgCreate(ORG);
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

describe("idempotency", () => {
  it("revoke B with A's rid is idempotency_mismatch and B stays valid; revoke A again with it gets A's answer", async () => {
    const a = await rig.admin.mint(ORG, []);
    const b = await rig.admin.mint(ORG, []);
    const rid = randomBytes(16).toString("base64url");
    const revoke = (nonce: string) =>
      noiseCall<{ nonce: string; revoked: boolean }>({
        url: rig.tkdb.url,
        api: "sign",
        op: "revoke",
        args: { nonce },
        pattern: "KK",
        serverPublicKey: rig.tkdb.publicKey,
        clientStaticKey: rig.signer,
        rid,
      });
    const first = await revoke(a.nonce);
    expect(first.nonce).toBe(a.nonce);
    expect((await refusal(revoke(b.nonce))).code).toBe("idempotency_mismatch");
    // B was not revoked; A's duplicate still answers A's result.
    expect((await rig.verifier.verify(`FlyV1 ${b.token}`)).nonce).toBe(b.nonce);
    expect(await revoke(a.nonce)).toEqual(first);
    const feed = await rig.verifier.revocations(undefined, 5000);
    expect(feed.nonces).toContain(a.nonce);
    expect(feed.nonces).not.toContain(b.nonce);
  });
});
