/**
 * Revocations survive a failover (issue 14 item 2): `tkdb revocations reapply --from <audit dir |
 * export>` puts back on a primary's blacklist the revocations another node's log holds and its
 * database lacks, idempotently, audited, on the primary only; and a node promoted while running
 * takes no write until it restarts, so its start re-applies its own log first (replication.ts).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { base64Decode } from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDb } from "../src/db/open.js";
import { REAPPLY_OP } from "../src/reapply.js";
import { Replication } from "../src/replication.js";
import { startTkdb } from "../src/server.js";
import { runTkdb } from "./cli-run.js";
import { caller, type Fixture, fixture, randomNonceId, tempDir } from "./helpers.js";

const DB_FILES = ["tkdb.db", "tkdb.db-wal", "tkdb.db-shm"];
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

/** Node `name`'s data folder, with the KEK shared by every node of the cluster. */
function node(name: string, base?: Fixture): Fixture {
  const dir = join(t.dir, name);
  mkdirSync(dir, { recursive: true });
  const fx = fixture(dir);
  if (base !== undefined) fx.config.kek = base.config.kek;
  return fx;
}

/** Copies node a's database files (stopped) into node b's folder: what b replicated before a failed. */
function copyDb(a: Fixture, b: Fixture): void {
  const from = join(a.config.dbPath, "..");
  const to = join(b.config.dbPath, "..");
  for (const f of DB_FILES) {
    rmSync(join(to, f), { force: true });
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
  }
}

const auditDir = (fx: Fixture) => join(fx.config.dbPath, "..", "audit");

function lines(dir: string): Record<string, unknown>[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^audit-\d+\.jsonl$/.test(f))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function blacklisted(fx: Fixture, nonce: string): boolean {
  const db = new Database(fx.config.dbPath, { readonly: true });
  try {
    return (
      db.prepare("SELECT count(*) FROM blacklist WHERE nonce = ?").pluck().get(base64Decode(nonce)) === 1
    );
  } finally {
    db.close();
  }
}

function envOf(fx: Fixture, extra: Record<string, string> = {}): Record<string, string> {
  return { TKDB_DATA_DIR: join(fx.config.dbPath, ".."), TKDB_KEK: hex(fx.config.kek), ...extra };
}

/** Primary A revokes two nonces after B's copy was taken; returns them. */
async function revokedOnlyOnA(a: Fixture, b: Fixture): Promise<string[]> {
  let h = await startTkdb(a.config);
  await caller(h.url, h.publicKey, a.signClient).sign("org_create", { org: "7" });
  await h.close();
  copyDb(a, b);
  h = await startTkdb(a.config);
  const c = caller(h.url, h.publicKey, a.signClient);
  const nonces = [randomNonceId(), randomNonceId()];
  for (const nonce of nonces) await c.sign("revoke", { nonce });
  await h.close();
  return nonces;
}

describe("tkdb revocations reapply", () => {
  it("re-applies every revocation in the old primary's audit log that the new primary lacks, once, audited as the operator; a second run adds nothing", async () => {
    const a = node("a");
    const b = node("b", a);
    const nonces = await revokedOnlyOnA(a, b);
    expect(nonces.some((n) => blacklisted(b, n))).toBe(false);

    const dry = await runTkdb(["revocations", "reapply", "--from", auditDir(a), "--dry-run", "--json"], {
      env: envOf(b),
      cwd: t.dir,
    });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ reapplied: 2, present: 0, dry_run: true });
    expect(nonces.some((n) => blacklisted(b, n))).toBe(false);

    const run = await runTkdb(["revocations", "reapply", "--from", auditDir(a), "--json"], {
      env: envOf(b),
      cwd: t.dir,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ source: "dir", required: 2, reapplied: 2, present: 0 });
    expect(nonces.every((n) => blacklisted(b, n))).toBe(true);

    const again = await runTkdb(["revocations", "reapply", "--from", auditDir(a), "--json"], {
      env: envOf(b),
      cwd: t.dir,
    });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ reapplied: 0, present: 2 });

    const cliLog = lines(join(auditDir(b), "cli"));
    const outcomes = cliLog.filter((l) => l.op === REAPPLY_OP && l.kind === "outcome");
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ outcome: "ok", actor: expect.stringMatching(/^cli:/), count: 2 });
    expect(new Set(outcomes[0]?.nonces as string[])).toEqual(new Set(nonces));
    expect(
      cliLog.filter((l) => l.op === "revocations_reapply").map((l) => [l.kind, l.outcome, l.count]),
    ).toEqual([
      ["event", "ok", 2],
      ["event", "ok", 0],
    ]);

    // B serves: the tokens are refused, and the feed names them.
    const h = await startTkdb(b.config);
    try {
      const feed = await caller(h.url, h.publicKey).verify<{ nonces: string[] }>("revocations", {});
      expect(new Set(feed.nonces)).toEqual(new Set(nonces));
    } finally {
      await h.close();
    }
  });

  it("re-applies from a verified export (tkdb audit export), and refuses a tampered export without applying any of it", async () => {
    const a = node("a");
    const b = node("b", a);
    const nonces = await revokedOnlyOnA(a, b);
    const exported = await runTkdb(["audit", "export"], { env: envOf(a), cwd: t.dir });
    expect(exported.code, exported.stderr).toBe(0);
    const file = join(t.dir, "a-export.ndjson");
    writeFileSync(file, exported.stdout);

    // Tampered: one revoke outcome's nonce swapped for another (the chain no longer verifies).
    const forged = randomNonceId();
    const tampered = join(t.dir, "tampered.ndjson");
    writeFileSync(tampered, exported.stdout.replace(nonces[0] as string, forged));
    const bad = await runTkdb(["revocations", "reapply", "--from", tampered, "--json"], {
      env: envOf(b),
      cwd: t.dir,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/does not verify/);
    expect([...nonces, forged].some((n) => blacklisted(b, n))).toBe(false);
    expect(lines(join(auditDir(b), "cli")).filter((l) => l.op === "revocations_reapply")).toMatchObject([
      { kind: "event", outcome: "error", code: "integrity" },
    ]);

    const ok = await runTkdb(["revocations", "reapply", "--from", file, "--json"], {
      env: envOf(b),
      cwd: t.dir,
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ source: "file", reapplied: 2 });
    expect(nonces.every((n) => blacklisted(b, n))).toBe(true);
  });

  it("refuses on a replica (TKDB_REPLICA, or LiteFS's .primary file) and writes nothing", async () => {
    const a = node("a");
    const b = node("b", a);
    const nonces = await revokedOnlyOnA(a, b);
    const replica = await runTkdb(["revocations", "reapply", "--from", auditDir(a)], {
      env: envOf(b, { TKDB_REPLICA: "true" }),
      cwd: t.dir,
    });
    expect(replica.code).not.toBe(0);
    expect(replica.stderr).toMatch(/not_primary/);
    const litefs = join(t.dir, "litefs");
    mkdirSync(litefs);
    writeFileSync(join(litefs, ".primary"), "node-a\n");
    const follower = await runTkdb(["revocations", "reapply", "--from", auditDir(a)], {
      env: envOf(b, { TKDB_LITEFS_DIR: litefs }),
      cwd: t.dir,
    });
    expect(follower.code).not.toBe(0);
    expect(follower.stderr).toMatch(/not_primary/);
    expect(nonces.some((n) => blacklisted(b, n))).toBe(false);
    expect(existsSync(join(auditDir(b), "cli"))).toBe(false);
  });
});

describe("a promotion re-applies the node's own log before it takes writes", () => {
  it("a node seen as a replica takes no write again until it restarts; a promotion asks for the restart once", () => {
    const path = join(t.dir, "tkdb.db");
    openDb(path).close();
    let primary = true;
    let promoted = 0;
    const r = new Replication({
      dbPath: path,
      isPrimary: () => primary,
      readOnly: false,
      staleAfterMs: 10_000,
      heartbeatMs: 1_000,
      log: () => {},
      onPromoted: () => promoted++,
    });
    try {
      r.tick();
      expect(() => r.assertTakesWrites()).not.toThrow();
      primary = false;
      r.tick();
      expect(() => r.assertTakesWrites()).toThrow(/primary/);
      primary = true;
      r.tick();
      r.tick();
      expect(promoted).toBe(1);
      expect(() => r.assertTakesWrites()).toThrow(/re-apply revocations/);
    } finally {
      r.close();
    }
  });

  it("a primary that lost its lease and got it back refuses mutations and restarts; the restart re-applies a revocation only its own log holds", async () => {
    const fx = node("n");
    const litefs = join(t.dir, "litefs-n");
    mkdirSync(litefs);
    fx.config.litefsDir = litefs;
    fx.config.heartbeatMs = 100;
    let h = await startTkdb(fx.config);
    let c = caller(h.url, h.publicKey, fx.signClient);
    await c.sign("org_create", { org: "7" });
    await h.close();
    const copy = node("copy");
    copyDb(fx, copy);
    let promoted = false;
    h = await startTkdb(fx.config, { onPromoted: () => (promoted = true) });
    c = caller(h.url, h.publicKey, fx.signClient);
    const nonce = randomNonceId();
    await c.sign("revoke", { nonce });
    // LiteFS hands the lease to another node: this one is a replica now...
    writeFileSync(join(litefs, ".primary"), "node-b\n");
    expect(await code(c.sign("revoke", { nonce: randomNonceId() }))).toBe("not_primary");
    // ...and gets it back: no write before the restart.
    rmSync(join(litefs, ".primary"));
    expect(await code(c.sign("revoke", { nonce: randomNonceId() }))).toBe("unavailable");
    for (let i = 0; i < 600 && !promoted; i++) await new Promise((res) => setTimeout(res, 50));
    expect(promoted).toBe(true);
    await h.close();
    // Meanwhile the database became the other primary's, which never had the revoke.
    copyDb(copy, fx);
    h = await startTkdb(fx.config);
    try {
      const feed = await caller(h.url, h.publicKey).verify<{ nonces: string[] }>("revocations", {});
      expect(feed.nonces).toContain(nonce);
      await caller(h.url, h.publicKey, fx.signClient).sign("revoke", { nonce: randomNonceId() });
    } finally {
      await h.close();
    }
  }, 120_000);
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NoiseRemoteError) return e.code;
    throw e;
  }
  return "ok";
}
