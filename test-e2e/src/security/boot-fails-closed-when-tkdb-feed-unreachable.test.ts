/**
 * Security issue 12, item 7: petsem's view of tkdb's revocations fails closed. petsem can refuse a
 * discharge whose user token tkdb revoked only while it hears tkdb's revocation feed. If the feed
 * has been unreachable for longer than PETSEM_TKDB_FEED_FAIL_CLOSED_MS, resolve is refused with
 * `unavailable` (a revocation could be hiding behind the silence), even for a discharge that has
 * not expired; once tkdb answers again, boots resume. At bea118d petsem did not follow the feed,
 * so a tkdb outage changed nothing and revocations were never seen.
 */
import { ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginUser, one, TKDB_LOCATION, writerFor } from "../flow.js";
import { type Stack, startStack } from "../reliability/stack.js";

const ORG = 5606n;
const APP = 8n;
const USER = 77n;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack("e2e-feed-down", {
    tkdb: { TKDB_DISCHARGE_TTL: "300" },
    petsem: { PETSEM_TKDB_FEED_POLL_MS: "200", PETSEM_TKDB_FEED_FAIL_CLOSED_MS: "1500" },
  });
  await stack.actors.admin.orgCreate(ORG);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** Resolves with `header` until the answer's code is `want` (or a generous deadline passes). */
async function until(header: string, want: string): Promise<{ code: string; at: number }> {
  let code = "";
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    code = await stack.actors.secrets.resolve(header, ORG, APP, 1).then(
      () => "ok",
      (e: unknown) => String((e as { code?: unknown }).code),
    );
    if (code === want) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { code, at: Date.now() };
}

describe("with tkdb's revocation feed unreachable", () => {
  it("petsem refuses resolve with unavailable after the threshold, then serves again once tkdb is back", async () => {
    const a = stack.actors;
    const user = await loginUser(a, ORG, USER);
    await a.secrets.set(writerFor(a, ORG, APP), ORG, APP, { DATABASE_URL: "postgres://x" });
    const ticket = a.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
    if (!ticket) throw new Error("reader has no tkdb caveat");
    const discharge = await a.flyd.discharge({ ticket, userHeader: user.header, org: ORG, app: APP });
    const header = `FlyV1 ${a.reader.toString()},${discharge}`;
    expect((await until(header, "ok")).code).toBe("ok");
    const windows = one(discharge).unsafeCaveats.filter(
      (c): c is ValidityWindow => c instanceof ValidityWindow,
    );
    const expiresMs = Math.min(...windows.map((w) => Number(w.notAfter) * 1000));

    await stack.tkdb.stop();
    const refused = await until(header, "unavailable");
    expect(refused.code).toBe("unavailable");
    expect(refused.at).toBeLessThan(expiresMs);

    await stack.restart("tkdb");
    expect((await until(header, "ok")).code).toBe("ok");
  }, 180_000);
});
