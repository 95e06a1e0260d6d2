/**
 * Security issue 12, item 7: revocation does not stop at petsem. At bea118d a tkdb discharge
 * obtained before the user's token was revoked kept releasing secrets until it expired (up to the
 * discharge TTL). petsem now follows tkdb's revocation feed and refuses a discharge whose user
 * token nonce (tkdb's UserTokenNonce attestation) tkdb has revoked: the window closes at the
 * feed's poll interval (200 ms here), not at the discharge's expiry (5 minutes here).
 */
import { ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginUser, one, TKDB_LOCATION, writerFor } from "../flow.js";
import { type Stack, startStack } from "../reliability/stack.js";

const ORG = 5202n;
const APP = 3n;
const USER = 88n;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack("e2e-boot-revoked", {
    tkdb: { TKDB_DISCHARGE_TTL: "300" },
    petsem: { PETSEM_TKDB_FEED_POLL_MS: "200" },
  });
  await stack.actors.admin.orgCreate(ORG);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe("a boot with a discharge issued before the user's token was revoked", () => {
  it("is refused by petsem once the feed reports the revocation, long before the discharge expires", async () => {
    const a = stack.actors;
    const user = await loginUser(a, ORG, USER);
    await a.secrets.set(writerFor(a, ORG, APP), ORG, APP, { DATABASE_URL: "postgres://x" });
    const ticket = a.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
    if (!ticket) throw new Error("reader has no tkdb caveat");
    // flyd obtains the discharge while the user's token is still good...
    const discharge = await a.flyd.discharge({ ticket, userHeader: user.header, org: ORG, app: APP });
    const header = `FlyV1 ${a.reader.toString()},${discharge}`;
    expect((await a.secrets.resolve(header, ORG, APP, 1)).secrets.map((s) => s.name)).toEqual([
      "DATABASE_URL",
    ]);
    const windows = one(discharge).unsafeCaveats.filter(
      (c): c is ValidityWindow => c instanceof ValidityWindow,
    );
    const expiresMs = Math.min(...windows.map((w) => Number(w.notAfter) * 1000));

    // ...then the user's token is revoked at tkdb.
    await a.admin.revoke({ token: user.header });

    let code = "ok";
    let refusedAt = 0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      code = await a.secrets.resolve(header, ORG, APP, 1).then(
        () => "ok",
        (e: unknown) => String((e as { code?: unknown }).code),
      );
      if (code !== "ok") {
        refusedAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(code).toBe("unauthorized");
    // The discharge itself was still valid: only the feed can have refused it.
    expect(refusedAt).toBeLessThan(expiresMs);
    // and it stays refused
    await expect(a.secrets.resolve(header, ORG, APP, 1)).rejects.toMatchObject({ code: "unauthorized" });
  }, 120_000);
});
