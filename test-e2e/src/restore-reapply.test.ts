/**
 * Issue 14 item 2, "Revocations survive restores and failovers": after a restore, tkdb re-applies
 * every revocation newer than the restore point from its audit log before it serves.
 *
 * Through the wire and the CLI, as an operator would: tkdb runs as a process; a user logs in and
 * gets a service token; tkdb stops and its database file is kept as the backup (a plain SQLite
 * file, what `litefs export` makes); tkdb starts again, the user's login is revoked (with a second
 * service token made after the backup); tkdb stops; `tkdb backup restore --export` checks the
 * backup (integrity, KEK) into a new file, which is put in place of the database; tkdb starts on
 * it with its own audit log. Every token of the revoked lineage is refused from the first request,
 * and a token that was never revoked still verifies (the restore did take effect).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { flyRegistry, loginDischarge, userTokenCaveats } from "@tkdb/caveats";
import { TkdbClient } from "@tkdb/client";
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { afterAll, describe, expect, it } from "vitest";
import { AUTH_LOCATION, one, TKDB_LOCATION } from "./flow.js";
import { cli, hex, key32, type RunningService, startService, tempDir, x25519 } from "./harness.js";

const ORG = 41n;
const dir = tempDir("e2e-restore-reapply");
const dataDir = join(dir.path, "tkdb");
mkdirSync(dataDir, { recursive: true });
const dbPath = join(dataDir, "tkdb.db");
const keys = { kek: hex(key32()), noise: x25519(), signer: x25519(), auth: key32() };
const env: Record<string, string> = {
  TKDB_PORT: "0",
  TKDB_DATA_DIR: dataDir,
  TKDB_KEK: keys.kek,
  TKDB_NOISE_KEY: hex(keys.noise.secretKey),
  TKDB_SIGN_CLIENTS: hex(keys.signer.publicKey),
  TKDB_TP_KEYS: `${TKDB_LOCATION}=${hex(key32())},${AUTH_LOCATION}=${hex(keys.auth)}`,
};
let running: RunningService | undefined;
afterAll(async () => {
  await running?.stop();
  dir.remove();
});

async function start(): Promise<{ admin: TkdbClient; flyd: TkdbClient }> {
  running = await startService("tkdb", env, 60_000);
  const ep = [{ url: running.url, serverPublicKey: running.publicKey }];
  return {
    admin: new TkdbClient({ endpoints: ep, clientStaticKey: keys.signer, registry: flyRegistry }),
    flyd: new TkdbClient({ endpoints: ep, registry: flyRegistry }),
  };
}

async function stop(): Promise<void> {
  await running?.stop();
  running = undefined;
}

/** A user's login token with its discharge, as in flow.ts loginUser. */
async function login(admin: TkdbClient, userId: bigint): Promise<string> {
  const { token } = await admin.mint(ORG, userTokenCaveats(ORG, Math.floor(Date.now() / 1000)));
  const permission = one(token);
  const discharge = loginDischarge(permission, {
    authKey: keys.auth,
    authLocation: AUTH_LOCATION,
    org: ORG,
    userId,
  });
  return encodeAuthorizationHeader([permission, discharge]);
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: { code?: string }) => e.code ?? String(e),
  );

describe("revocations survive a restore", () => {
  it("tkdb started on a backup from before a revocation refuses every token of the revoked lineage from its first request", async () => {
    let { admin, flyd } = await start();
    await admin.orgCreate(ORG);
    const user = await login(admin, 1n);
    const bystander = await login(admin, 2n);
    const before = await admin.strip(user);
    await stop();
    // The backup: the database as it is now (stopped cleanly, so the file holds everything).
    expect(existsSync(`${dbPath}-wal`) && readFileSync(`${dbPath}-wal`).length > 0).toBe(false);
    const backup = join(dir.path, "backup.db");
    copyFileSync(dbPath, backup);

    ({ admin, flyd } = await start());
    const after = await admin.strip(user);
    const revoked = await admin.revoke({ token: user });
    expect(revoked.derived).toHaveLength(2);
    expect(await refusal(flyd.verify(`FlyV1 ${after.token}`))).toBe("revoked");
    await stop();

    const restoredFile = join(dir.path, "restored.db");
    const r = await cli("tkdb", ["backup", "restore", "--export", backup, "--output", restoredFile], env);
    expect(r.code, r.stderr).toBe(0);
    for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });
    renameSync(restoredFile, dbPath);

    ({ admin, flyd } = await start());
    // The first requests the restored node answers.
    expect(await refusal(flyd.verify(`FlyV1 ${after.token}`))).toBe("revoked");
    expect(await refusal(flyd.verify(`FlyV1 ${before.token}`))).toBe("revoked");
    expect(await refusal(flyd.verify(user))).toBe("revoked");
    // The restore took effect and the re-apply is not a blanket refusal: the other login verifies.
    expect(await refusal(flyd.verify(bystander))).toBe("ok");
    const feed = await flyd.revocations(undefined);
    expect(new Set(feed.nonces)).toEqual(new Set([revoked.nonce, ...revoked.derived]));
    await stop();
    // The re-apply is in the node's audit log, as `tkdb audit verify` sees it.
    const v = await cli("tkdb", ["audit", "verify"], env);
    expect(v.code, v.stderr).toBe(0);
    const log = readFileSync(join(dataDir, "audit", "audit-000000000001.jsonl"), "utf8");
    expect(log).toMatch(/"count":3,[^\n]*"kind":"outcome"[^\n]*"op":"revoke_reapplied"/);
  }, 240_000);
});
