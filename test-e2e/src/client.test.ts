/**
 * @tkdb/client against real tkdb processes (issue 5): the cache, the revocation feed and
 * failover. Two tkdb processes serve one SQLite database (WAL), as a near and a far endpoint.
 */
import { join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import { CachingVerifier, TkdbClient, TokenRefusedError, UnavailableError } from "@tkdb/client";
import { encodeAuthorizationHeader, type Macaroon, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { one } from "./flow.js";
import { hex, key32, type RunningService, startService, tempDir, x25519 } from "./harness.js";

const dir = tempDir("e2e-client");
const signer = x25519();
let near: RunningService;
let far: RunningService;
let admin: TkdbClient;
const noRetry = { attempts: 1, sleep: async () => {} };

const env = (noise: Uint8Array, node: string) => ({
  TKDB_PORT: "0",
  TKDB_DATA_DIR: join(dir.path, "tkdb"),
  // each node keeps its own audit log; the database file is shared
  TKDB_AUDIT_DIR: join(dir.path, `audit-${node}`),
  TKDB_KEK: kek,
  TKDB_NOISE_KEY: hex(noise),
  TKDB_SIGN_CLIENTS: hex(signer.publicKey),
});
const kek = hex(key32());

beforeAll(async () => {
  near = await startService("tkdb", env(x25519().secretKey, "near"));
  far = await startService("tkdb", env(x25519().secretKey, "far"));
  admin = new TkdbClient({
    endpoints: [{ url: near.url, serverPublicKey: near.publicKey }],
    clientStaticKey: signer,
    registry: flyRegistry,
  });
  await admin.orgCreate(5);
}, 60_000);

afterAll(async () => {
  await near?.stop();
  await far?.stop();
  dir.remove();
});

async function mint(): Promise<Macaroon> {
  const now = Math.floor(Date.now() / 1000);
  const { token } = await admin.mint(5, [
    { type: "ValidityWindow", body: { not_before: now - 60, not_after: now + 3600 } },
  ]);
  return one(token);
}
const child = (m: Macaroon) => {
  const c = m.clone();
  c.add(ValidityWindow.fromNow(600));
  return encodeAuthorizationHeader([c]);
};

describe("@tkdb/client against real tkdb", () => {
  it("a cached descendant is refused once its parent's revocation reaches the feed", async () => {
    const client = new TkdbClient({
      endpoints: [{ url: near.url, serverPublicKey: near.publicKey }],
      registry: flyRegistry,
    });
    const v = new CachingVerifier({ authority: client, registry: flyRegistry });
    await v.poll();
    const parent = await mint();
    await v.verify(encodeAuthorizationHeader([parent]));
    const d = child(parent);
    expect((await v.verify(d)).cached).toBe(true);
    await admin.revoke({ token: encodeAuthorizationHeader([parent]) });
    expect((await v.verify(d)).cached).toBe(true); // not polled yet: the window the feed closes
    await v.poll();
    await expect(v.verify(d)).rejects.toBeInstanceOf(TokenRefusedError);
  });

  it("the nearest endpoint down → the next one answers; a revocation made through one is seen through the other", async () => {
    const dead = { url: "http://127.0.0.1:9", serverPublicKey: near.publicKey };
    const client = new TkdbClient({
      endpoints: [dead, { url: far.url, serverPublicKey: far.publicKey }],
      registry: flyRegistry,
      retry: noRetry,
      timeoutMs: 2000,
    });
    const t = await mint();
    await expect(client.verify(encodeAuthorizationHeader([t]))).resolves.toBeDefined();
    await admin.revoke({ token: encodeAuthorizationHeader([t]) });
    await expect(client.verify(encodeAuthorizationHeader([t]))).rejects.toMatchObject({ code: "revoked" });
  });

  it("a feed outage past the threshold empties the cache; with every endpoint down, verification is refused", async () => {
    let clock = Date.now();
    const client = new TkdbClient({
      endpoints: [{ url: far.url, serverPublicKey: far.publicKey }],
      registry: flyRegistry,
      retry: noRetry,
      timeoutMs: 2000,
    });
    const v = new CachingVerifier({
      authority: client,
      registry: flyRegistry,
      failClosedAfterMs: 10_000,
      now: () => clock,
    });
    await v.poll();
    const t = await mint();
    await v.verify(encodeAuthorizationHeader([t]));
    expect(v.cache.size).toBe(1);
    await far.stop();
    clock += 11_000;
    expect(await v.poll()).toBe(false);
    expect(v.cache.size).toBe(0);
    await expect(v.verify(child(t))).rejects.toBeInstanceOf(UnavailableError);
  });
});
