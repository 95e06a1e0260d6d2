/**
 * Property: `revoke {nonce}` takes only a Fly nonce (the base64 of its msgpack encoding, any key
 * id, known or retired). Arbitrary base64 is refused with invalid_request and adds nothing to the
 * blacklist or the revocation feed. (The original accepted any base64 string.)
 */
import { Nonce } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { key32 } from "../harness.js";
import { type Rig, refusal, startRig } from "./tkdb-fixture.js";

let rig: Rig;

beforeAll(async () => {
  rig = await startRig("revoke-nonce");
}, 60_000);
afterAll(async () => {
  await rig?.stop();
});

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

describe("revoke input", () => {
  it("revoke refuses anything that is not a Fly nonce, and accepts a nonce under a key tkdb does not know", async () => {
    const before = await rig.verifier.revocations(undefined, 5000);
    const fake = Nonce.create(key32().slice(0, 16), false).encode();
    for (const bad of [
      "AAAA",
      b64(new TextEncoder().encode("hello, world")),
      b64(key32()),
      b64(new Uint8Array([...fake, 0])), // trailing byte
      b64(fake.subarray(0, fake.length - 1)), // truncated
      "not base64!",
    ]) {
      expect((await refusal(rig.admin.revoke({ nonce: bad }))).code).toBe("invalid_request");
    }
    const after = await rig.verifier.revocations(before.cursor, 5000);
    expect(after.nonces).toEqual([]);
    // A well-formed nonce under an unknown (or retired) key id is accepted.
    const r = await rig.admin.revoke({ nonce: b64(fake) });
    expect(r.nonce).toBe(b64(fake));
    expect((await rig.verifier.revocations(before.cursor, 5000)).nonces).toEqual([b64(fake)]);
  });
});
