/**
 * Issue 14 item 2, "Revocations survive failovers": a revocation committed on the old primary A but
 * not replicated to B before A failed is only in A's audit log (its volume) and the shipped stream.
 * The operator runs `tkdb revocations reapply --from <A's audit dir>` on the new primary B
 * (infra/FAILOVER.md), and B refuses the token from then on.
 *
 * As processes, through the wire and the CLI: A serves, a user logs in; A stops and its database is
 * copied to B's data folder (what B had replicated: everything before the revoke); A starts again
 * and revokes the login (with a service token made from it); A fails (stops). B starts on the
 * copy: it does not know the revocation (its own log never saw it) and verifies the login. The
 * operator runs the command on B while B serves; B then refuses every token of the lineage, a
 * second run changes nothing, and the same command on a replica is refused.
 */
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { flyRegistry, loginDischarge, userTokenCaveats } from "@tkdb/caveats";
import { TkdbClient } from "@tkdb/client";
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { afterAll, describe, expect, it } from "vitest";
import { AUTH_LOCATION, one, TKDB_LOCATION } from "./flow.js";
import { cli, hex, key32, type RunningService, startService, tempDir, x25519 } from "./harness.js";

const ORG = 43n;
const dir = tempDir("e2e-failover-reapply");
const keys = { kek: hex(key32()), noise: x25519(), signer: x25519(), auth: key32(), petsem: key32() };
const envOf = (name: string): Record<string, string> => {
  const dataDir = join(dir.path, name);
  mkdirSync(dataDir, { recursive: true });
  return {
    TKDB_PORT: "0",
    TKDB_DATA_DIR: dataDir,
    TKDB_AUDIT_NODE: name,
    TKDB_KEK: keys.kek,
    TKDB_NOISE_KEY: hex(keys.noise.secretKey),
    TKDB_SIGN_CLIENTS: hex(keys.signer.publicKey),
    TKDB_TP_KEYS: `${TKDB_LOCATION}=${hex(keys.petsem)},${AUTH_LOCATION}=${hex(keys.auth)}`,
  };
};
const envA = envOf("node-a");
const envB = envOf("node-b");
const running: RunningService[] = [];
afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  dir.remove();
});

async function start(env: Record<string, string>) {
  const r = await startService("tkdb", env, 60_000);
  running.push(r);
  const ep = [{ url: r.url, serverPublicKey: r.publicKey }];
  return {
    r,
    admin: new TkdbClient({ endpoints: ep, clientStaticKey: keys.signer, registry: flyRegistry }),
    flyd: new TkdbClient({ endpoints: ep, registry: flyRegistry }),
  };
}

async function stop(r: RunningService): Promise<void> {
  await r.stop();
  running.splice(running.indexOf(r), 1);
}

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

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: { code?: string }) => e.code ?? String(e),
  );

describe("revocations survive a failover", () => {
  it("a revocation only the old primary's log holds is re-applied on the new primary by `tkdb revocations reapply --from`, after which the new primary refuses the token", async () => {
    let a = await start(envA);
    await a.admin.orgCreate(ORG);
    const user = await login(a.admin, 1n);
    const bystander = await login(a.admin, 2n);
    await stop(a.r);
    // What B had replicated when A failed: the database from before the revoke.
    for (const f of ["tkdb.db", "tkdb.db-wal", "tkdb.db-shm"]) {
      const from = join(envA.TKDB_DATA_DIR as string, f);
      if (existsSync(from)) copyFileSync(from, join(envB.TKDB_DATA_DIR as string, f));
    }
    a = await start(envA);
    const service = await a.admin.strip(user);
    const revoked = await a.admin.revoke({ token: user });
    expect(revoked.derived).toHaveLength(1);
    await stop(a.r); // A fails before B heard of the revoke

    const b = await start(envB);
    // The gap this closes: B's own log never saw the revoke, so its start did not re-apply it.
    expect(await outcome(b.flyd.verify(user))).toBe("ok");

    const aAudit = join(envA.TKDB_DATA_DIR as string, "audit");
    // On a replica the command refuses and writes nothing.
    const onReplica = await cli("tkdb", ["revocations", "reapply", "--from", aAudit], {
      ...envB,
      TKDB_REPLICA: "true",
    });
    expect(onReplica.code).not.toBe(0);
    expect(onReplica.stderr).toMatch(/not_primary/);
    expect(await outcome(b.flyd.verify(user))).toBe("ok");

    const r = await cli("tkdb", ["revocations", "reapply", "--from", aAudit, "--json"], envB);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ source: "dir", reapplied: 2, present: 0 });
    expect(await outcome(b.flyd.verify(user))).toBe("revoked");
    expect(await outcome(b.flyd.verify(`FlyV1 ${service.token}`))).toBe("revoked");
    expect(await outcome(b.flyd.verify(bystander))).toBe("ok");
    const feed = await b.flyd.revocations(undefined);
    expect(new Set(feed.nonces)).toEqual(new Set([revoked.nonce, ...revoked.derived]));

    const again = await cli("tkdb", ["revocations", "reapply", "--from", aAudit, "--json"], envB);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ reapplied: 0, present: 2 });

    // B's next start keeps them: the command's outcome is in B's own (CLI) log.
    await stop(b.r);
    const b2 = await start(envB);
    expect(await outcome(b2.flyd.verify(user))).toBe("revoked");
    const v = await cli("tkdb", ["audit", "verify"], envB);
    expect(v.code, v.stderr).toBe(0);
  }, 300_000);
});
