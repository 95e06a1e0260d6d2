/**
 * Issue 7 step 6: three tkdb instances — US primary, EU and AU replicas — on one database with
 * LiteFS primary-file semantics (a replica's LiteFS folder holds `.primary` naming the primary).
 * Clients use the nearest, fail over when it is killed, and a revocation made on the primary
 * reaches a replica's clients through the feed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import { CachingVerifier, TkdbClient, TokenRefusedError } from "@tkdb/client";
import { encodeAuthorizationHeader, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { one } from "./flow.js";
import { hex, key32, type RunningService, startService, tempDir, x25519 } from "./harness.js";

const dir = tempDir("e2e-regions");
const signer = x25519();
const kek = hex(key32());
const regions: Record<"us" | "eu" | "au", RunningService> = {} as never;
const fast = { attempts: 1, sleep: async () => {} };

function env(region: string, primary: boolean): Record<string, string> {
  const litefs = join(dir.path, `litefs-${region}`);
  mkdirSync(litefs, { recursive: true });
  if (!primary) writeFileSync(join(litefs, ".primary"), "us");
  return {
    TKDB_PORT: "0",
    TKDB_DATA_DIR: join(dir.path, "db"),
    TKDB_KEK: kek,
    TKDB_NOISE_KEY: hex(x25519().secretKey),
    TKDB_SIGN_CLIENTS: hex(signer.publicKey),
    TKDB_LITEFS_DIR: litefs,
    // each node keeps its own audit log (outside the LiteFS mount on Fly)
    TKDB_AUDIT_DIR: join(dir.path, `audit-${region}`),
  };
}
const ep = (r: RunningService) => ({ url: r.url, serverPublicKey: r.publicKey });

beforeAll(async () => {
  regions.us = await startService("tkdb", env("us", true));
  regions.eu = await startService("tkdb", env("eu", false));
  regions.au = await startService("tkdb", env("au", false));
}, 60_000);
afterAll(async () => {
  for (const r of Object.values(regions)) await r?.stop();
  dir.remove();
});

describe("US primary, EU and AU replicas", () => {
  it("an EU signing client's writes land on the primary (replicas answer not_primary)", async () => {
    const euAdmin = new TkdbClient({
      endpoints: [ep(regions.eu), ep(regions.us)],
      clientStaticKey: signer,
      registry: flyRegistry,
      retry: fast,
    });
    const direct = new TkdbClient({ endpoints: [ep(regions.eu)], clientStaticKey: signer, retry: fast });
    await expect(direct.orgCreate(8)).rejects.toMatchObject({ code: "not_primary" });
    await expect(euAdmin.orgCreate(8)).resolves.toMatchObject({ org: "8" });
  });

  it("EU clients verify at the nearest replica, fail over to AU when EU dies, and see the primary's revocation through the feed", async () => {
    const admin = new TkdbClient({
      endpoints: [ep(regions.us)],
      clientStaticKey: signer,
      registry: flyRegistry,
    });
    const { token } = await admin.mint(8, [
      { type: "ValidityWindow", body: { not_before: 0, not_after: 4102444800 } },
    ]);
    const parent = one(token);
    const euClient = new TkdbClient({
      endpoints: [ep(regions.eu), ep(regions.au), ep(regions.us)],
      registry: flyRegistry,
      retry: fast,
      timeoutMs: 2000,
    });
    const v = new CachingVerifier({ authority: euClient, registry: flyRegistry });
    await v.poll();
    await v.verify(encodeAuthorizationHeader([parent]));
    const child = parent.clone();
    child.add(ValidityWindow.fromNow(600));
    expect((await v.verify(encodeAuthorizationHeader([child]))).cached).toBe(true);

    await regions.eu.stop("SIGKILL");
    await admin.revoke({ token });
    expect(await v.poll()).toBe(true); // answered by AU, reading the primary's writes
    await expect(v.verify(encodeAuthorizationHeader([child]))).rejects.toBeInstanceOf(TokenRefusedError);
    await expect(euClient.verify(token)).rejects.toMatchObject({ code: "revoked" });
  });
});
