/**
 * Issue 7 step 7: continuous backup of both databases with the real Litestream binary, and
 * point-in-time restore. Services restored to a time T between two revocations (and two secret
 * versions) verify tokens revoked after T, refuse those revoked before it, and boot machines with
 * the secrets as they were at T.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import { PetsemClient, TkdbClient } from "@tkdb/client";
import { encodeAuthorizationHeader, type Macaroon } from "@tkdb/macaroon";
import { afterAll, describe, expect, it } from "vitest";
import { AUTH_LOCATION, boot, type FlowActors, loginUser, one, TKDB_LOCATION, writerFor } from "./flow.js";
import { cli, hex, key32, type RunningService, startService, tempDir, x25519 } from "./harness.js";

const ORG = 31n;
const APP = 4n;
const dir = tempDir("e2e-backup");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keys = {
  tkdbKek: hex(key32()),
  petsemKek: hex(key32()),
  tkdbNoise: x25519(),
  petsemNoise: x25519(),
  signer: x25519(),
  shared: hex(key32()),
  auth: key32(),
};
const running: RunningService[] = [];
afterAll(async () => {
  for (const s of running) await s.stop();
  dir.remove();
});

function envs(root: string, backup: boolean) {
  const tkdbDir = join(root, "tkdb");
  mkdirSync(tkdbDir, { recursive: true });
  const lsConfig = join(dir.path, "litestream.yml");
  const tkdb: Record<string, string> = {
    TKDB_PORT: "0",
    TKDB_DATA_DIR: tkdbDir,
    TKDB_KEK: keys.tkdbKek,
    TKDB_NOISE_KEY: hex(keys.tkdbNoise.secretKey),
    TKDB_SIGN_CLIENTS: hex(keys.signer.publicKey),
    TKDB_TP_KEYS: `${TKDB_LOCATION}=${keys.shared},${AUTH_LOCATION}=${hex(keys.auth)}`,
  };
  const petsem: Record<string, string> = {
    PETSEM_PORT: "0",
    PETSEM_DATA_DIR: join(root, "petsem"),
    PETSEM_KEK: keys.petsemKek,
    PETSEM_NOISE_KEY: hex(keys.petsemNoise.secretKey),
    PETSEM_TKDB_SHARED_KEY: keys.shared,
    PETSEM_TKDB_LOCATION: TKDB_LOCATION,
    // petsem follows tkdb's revocation feed; the URL is set once tkdb listens
    PETSEM_TKDB_PUBLIC_KEY: hex(keys.tkdbNoise.publicKey),
  };
  if (backup) {
    // tkdb reads a Litestream config; petsem writes its own from a replica URL.
    writeFileSync(
      lsConfig,
      `dbs:\n  - path: ${join(tkdbDir, "tkdb.db")}\n    replicas:\n      - url: file://${join(dir.path, "tkdb-replica")}\n        sync-interval: 100ms\n`,
    );
    tkdb.TKDB_LITESTREAM_CONFIG = lsConfig;
    petsem.PETSEM_LITESTREAM_REPLICA = `file://${join(dir.path, "petsem-replica")}`;
    petsem.PETSEM_LITESTREAM_SYNC_INTERVAL = "100ms";
  }
  return { tkdb, petsem, lsConfig };
}

async function actorsFor(tkdb: RunningService, petsem: RunningService, petsemEnv: Record<string, string>) {
  const ep = [{ url: tkdb.url, serverPublicKey: tkdb.publicKey }];
  const w = await cli("petsem", ["token", "mint", "--writer"], petsemEnv);
  const r = await cli("petsem", ["token", "mint", "--reader"], petsemEnv);
  expect([w.code, r.code]).toEqual([0, 0]);
  const actors: FlowActors = {
    admin: new TkdbClient({ endpoints: ep, clientStaticKey: keys.signer, registry: flyRegistry }),
    flyd: new TkdbClient({ endpoints: ep, registry: flyRegistry }),
    secrets: new PetsemClient({ endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }] }),
    authKey: keys.auth,
    writer: w.stdout.trim(),
    reader: one(r.stdout.trim()),
  };
  return actors;
}

describe("Litestream backup and point-in-time restore of tkdb and petsem", () => {
  it("restored to T, both services answer exactly as they did at T", async () => {
    const live = envs(join(dir.path, "live"), true);
    const tkdb = await startService("tkdb", live.tkdb);
    live.petsem.PETSEM_TKDB_URL = tkdb.url;
    const petsem = await startService("petsem", live.petsem);
    running.push(tkdb, petsem);
    const a = await actorsFor(tkdb, petsem, live.petsem);
    await a.admin.orgCreate(ORG);
    const early = await loginUser(a, ORG, 1n); // revoked before T
    const late = await loginUser(a, ORG, 2n); // revoked after T
    await a.secrets.set(writerFor(a, ORG, APP), ORG, APP, { DATABASE_URL: "v1" });
    await a.admin.revoke({ token: encodeAuthorizationHeader([early.permission]) });
    await sleep(1500);
    const T = new Date().toISOString();
    await sleep(1500);
    await a.secrets.set(writerFor(a, ORG, APP), ORG, APP, { DATABASE_URL: "v2" });
    await a.admin.revoke({ token: encodeAuthorizationHeader([late.permission]) });
    await sleep(1500);
    await tkdb.stop();
    await petsem.stop();

    const restored = envs(join(dir.path, "restored"), false);
    const tr = await cli(
      "tkdb",
      [
        "backup",
        "restore",
        "--timestamp",
        T,
        "--output",
        join(restored.tkdb.TKDB_DATA_DIR as string, "tkdb.db"),
      ],
      {
        ...restored.tkdb,
        TKDB_LITESTREAM_CONFIG: live.lsConfig,
        TKDB_DATA_DIR: live.tkdb.TKDB_DATA_DIR as string,
      },
    );
    expect(tr.code, tr.stderr).toBe(0);
    const pr = await cli(
      "petsem",
      [
        "backup",
        "restore",
        "--timestamp",
        T,
        "--output",
        join(restored.petsem.PETSEM_DATA_DIR as string, "petsem.db"),
      ],
      { ...live.petsem },
    );
    expect(pr.code, pr.stderr).toBe(0);

    const tkdb2 = await startService("tkdb", restored.tkdb);
    restored.petsem.PETSEM_TKDB_URL = tkdb2.url;
    const petsem2 = await startService("petsem", restored.petsem);
    running.push(tkdb2, petsem2);
    const b = await actorsFor(tkdb2, petsem2, restored.petsem);
    const verify = (m: Macaroon, header: string) => b.flyd.verify(header).then(() => m);
    await expect(verify(early.permission, early.header)).rejects.toMatchObject({ code: "revoked" });
    await expect(verify(late.permission, late.header)).resolves.toBeDefined();
    const listed = await b.secrets.list(writerFor(b, ORG, APP), ORG, APP);
    expect(listed.app_version).toBe(1);
    const seen = await boot(b, late.header, ORG, APP, 1);
    expect(seen).toBe(createHash("sha256").update("v1").digest("hex"));
  }, 90_000);
});
