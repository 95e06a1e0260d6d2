/**
 * Security issue 12 item 10, tkdb side: requests that carry a user token or a discharge (`verify`,
 * `discharge` on the verification API; `strip`, `revoke` on the signing API) are forward secret.
 *
 * A passive attacker records every request body and later steals tkdb's static Noise key (the rig
 * generated it, so the test has it). With that key alone it can read any recorded message 1. The
 * tests show (1) that a client's strip and discharge put the user's token in no message 1, and
 * (2) that the server refuses each of these ops when a client sends it in message 1 anyway, with
 * `forward_secrecy_required` and no effect, so no client can be downgraded into leaking it.
 */

import { flyRegistry } from "@tkdb/caveats";
import { TkdbClient } from "@tkdb/client";
import { base64Encode } from "@tkdb/macaroon";
import { NoiseRemoteError, noiseCall, resolveBackend } from "@tkdb/noise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Login, login, type Rig, readerTicket, startRig } from "./tkdb-fixture.js";
import { openWithStaticKey, wireRecorder } from "./wire-recorder.js";

const ORG = 7373n;
const APP = 12n;
const _backend = resolveBackend("native");

const { recorded, fetch: recordingFetch } = wireRecorder();

let rig: Rig;
let user: Login;
let tkdbStatic: { secretKey: Uint8Array; publicKey: Uint8Array };

beforeAll(async () => {
  rig = await startRig("e2e-tkdb-fs");
  const secret = new Uint8Array(Buffer.from(rig.env.TKDB_NOISE_KEY as string, "hex"));
  tkdbStatic = { secretKey: secret, publicKey: rig.tkdb.publicKey };
  await rig.admin.orgCreate(ORG);
  user = await login(rig, ORG, { userId: 42n });
}, 90_000);

afterAll(async () => {
  await rig?.stop();
});

describe("tkdb requests carrying credentials are forward secret", () => {
  it("a recorded strip, discharge and verify put the user's token in no message 1 the static key opens", async () => {
    const endpoints = [{ url: rig.tkdb.url, serverPublicKey: rig.tkdb.publicKey }];
    const signer = new TkdbClient({
      endpoints,
      clientStaticKey: rig.signer,
      registry: flyRegistry,
      fetch: recordingFetch,
    });
    const verifier = new TkdbClient({ endpoints, registry: flyRegistry, fetch: recordingFetch });
    await verifier.verify(user.header);
    const { ticket } = readerTicket(rig);
    await verifier.discharge({ ticket, userHeader: user.header, org: ORG, app: APP });
    await signer.strip(user.header);
    // The user's token, as it travels in the header: its first permission token's body.
    const tokenBody =
      user.header
        .replace(/^FlyV1 /, "")
        .split(",")[0]
        ?.slice(4, 80) ?? "";
    expect(tokenBody.length).toBeGreaterThan(40);
    expect(recorded.length).toBeGreaterThanOrEqual(4);
    const opened = recorded
      .map((r) => openWithStaticKey(r, tkdbStatic))
      .filter((p): p is string => p !== null);
    expect(opened.length).toBeGreaterThanOrEqual(1);
    for (const p of opened) {
      expect(p.includes(tokenBody), "user token in a message 1").toBe(false);
      expect(JSON.parse(p).op).toBe("session");
    }
    for (const r of recorded.filter((x) => x.headers["noise-session"] !== undefined))
      expect(Buffer.from(r.body).includes(Buffer.from(tokenBody))).toBe(false);
  }, 60_000);

  it("verify, discharge, strip and revoke sent in message 1 are refused with forward_secrecy_required and have no effect", async () => {
    const { ticket } = readerTicket(rig);
    const cases: { api: "verify" | "sign"; op: string; args: Record<string, unknown> }[] = [
      { api: "verify", op: "verify", args: { header: user.header } },
      {
        api: "verify",
        op: "discharge",
        args: { ticket: base64Encode(ticket), header: user.header, org: String(ORG), app: String(APP) },
      },
      { api: "sign", op: "strip", args: { header: user.header } },
      { api: "sign", op: "revoke", args: { nonce: user.nonce } },
    ];
    for (const c of cases) {
      const err = await noiseCall({
        url: rig.tkdb.url,
        api: c.api,
        op: c.op,
        pattern: c.api === "sign" ? "KK" : "IK",
        serverPublicKey: rig.tkdb.publicKey,
        ...(c.api === "sign" ? { clientStaticKey: rig.signer } : {}),
        mode: "request",
        args: c.args,
      }).catch((e: unknown) => e);
      expect(err, c.op).toBeInstanceOf(NoiseRemoteError);
      expect((err as NoiseRemoteError).code, c.op).toBe("forward_secrecy_required");
    }
    // The downgraded revoke did nothing: the user's token still verifies.
    const verifier = new TkdbClient({
      endpoints: [{ url: rig.tkdb.url, serverPublicKey: rig.tkdb.publicKey }],
      registry: flyRegistry,
    });
    await expect(verifier.verify(user.header)).resolves.toBeDefined();
  }, 60_000);
});
