/**
 * Reads on replicas (issue 14): the primary's heartbeat, staleness, the feed epoch, and a
 * TKDB_REPLICA node on the same database file, read-only.
 */
import { join } from "node:path";
import { NoiseRemoteError } from "@tkdb/noise";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDb } from "../src/db/open.js";
import { Replication, type ReplicationPosition } from "../src/replication.js";
import { startTkdb } from "../src/server.js";
import { caller, fixture, randomNonceId, tempDir } from "./helpers.js";

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

const T0 = 1_800_000_000_000;
const quiet = () => {};

/** A database with tkdb's schema, and a primary and replica Replication on it with their own clocks. */
function pair(dbPath: string, clocks: { primary: { now: number }; replica: { now: number } }) {
  openDb(dbPath).close();
  const common = { dbPath, staleAfterMs: 10_000, heartbeatMs: 1_000, log: quiet };
  const primary = new Replication({
    ...common,
    isPrimary: () => true,
    readOnly: false,
    now: () => clocks.primary.now,
  });
  const replica = new Replication({
    ...common,
    isPrimary: () => false,
    readOnly: true,
    now: () => clocks.replica.now,
  });
  return { primary, replica };
}

describe("replication: heartbeat and staleness", () => {
  it("a replica answers stale once the primary's last heartbeat is older than the bound, and is fresh again when the primary beats", () => {
    const clock = { now: T0 };
    const { primary, replica } = pair(`${t.dir}/tkdb.db`, { primary: clock, replica: clock });
    expect(replica.assertFresh()).toMatchObject({ primary: false, heartbeat_ms: T0, age_ms: 0 });
    clock.now += 10_000;
    expect(replica.assertFresh().age_ms).toBe(10_000);
    clock.now += 1;
    expect(() => replica.assertFresh()).toThrow(expect.objectContaining({ code: "stale" }));
    primary.tick();
    clock.now += 100; // a replica re-reads the row at most every 100 ms
    expect(replica.assertFresh()).toMatchObject({ heartbeat_ms: T0 + 10_001, age_ms: 100 });
    // The primary is the source of the data: never stale, whatever its heartbeat's age.
    clock.now += 60_000;
    expect(primary.assertFresh().primary).toBe(true);
    primary.close();
    replica.close();
  });

  it("a replica whose clock runs behind the primary's still turns stale when the heartbeat stops changing", () => {
    const pc = { now: T0 };
    const rc = { now: T0 - 60_000 };
    const { primary, replica } = pair(`${t.dir}/tkdb.db`, { primary: pc, replica: rc });
    expect(replica.assertFresh().age_ms).toBe(0);
    rc.now += 10_001; // the primary's timestamp still looks 50 s in the future
    expect(() => replica.assertFresh()).toThrow(expect.objectContaining({ code: "stale" }));
    primary.close();
    replica.close();
  });

  it("a replica whose primary never wrote a heartbeat is stale", () => {
    const path = `${t.dir}/tkdb.db`;
    openDb(path).close();
    const replica = new Replication({
      dbPath: path,
      isPrimary: () => false,
      readOnly: true,
      staleAfterMs: 10_000,
      heartbeatMs: 1_000,
      log: quiet,
    });
    expect(replica.stale()).toBe(true);
    expect(() => replica.assertFresh()).toThrow(/no heartbeat/);
    replica.close();
  });

  it("every start of a primary mints a new feed epoch, which replicas read", () => {
    const clock = { now: T0 };
    const path = `${t.dir}/tkdb.db`;
    const a = pair(path, { primary: clock, replica: clock });
    const e1 = a.replica.position().epoch;
    a.primary.close();
    const p2 = new Replication({
      dbPath: path,
      isPrimary: () => true,
      readOnly: false,
      staleAfterMs: 10_000,
      heartbeatMs: 1_000,
      log: quiet,
      now: () => clock.now,
    });
    clock.now += 1_000; // past the replica's re-read interval
    const e2 = a.replica.position().epoch;
    expect(e1).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(e2).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(e2).not.toBe(e1);
    p2.close();
    a.replica.close();
  });
});

describe("a TKDB_REPLICA node on the primary's database file", () => {
  it("opens the database read-only: mutations are refused with not_primary, its store cannot write, and reads carry its position", async () => {
    const fx = fixture(t.dir);
    const primary = await startTkdb(fx.config);
    const p = caller(primary.url, primary.publicKey, fx.signClient);
    await p.sign("org_create", { org: "5" });
    const revoked = randomNonceId();
    await p.sign("revoke", { nonce: revoked });
    // Each node keeps its own audit log (TKDB_AUDIT_DIR); the database file is the primary's.
    const replica = await startTkdb({ ...fx.config, replica: true, auditDir: join(t.dir, "audit-replica") });
    try {
      const r = caller(replica.url, replica.publicKey, fx.signClient);
      const err = await r.sign("org_create", { org: "6" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoiseRemoteError);
      expect((err as NoiseRemoteError).code).toBe("not_primary");
      // Not even a direct write through the replica's own store reaches the file.
      expect(() => replica.service.store.revoke(new Uint8Array(8), null)).toThrow();
      const feed = await r.verify<{ nonces: string[]; cursor: string; replication: ReplicationPosition }>(
        "revocations",
        {},
      );
      expect(feed.nonces).toEqual([revoked]);
      const primaryHealth = await p.verify<{ replication: ReplicationPosition }>("health", {});
      expect(feed.replication).toMatchObject({
        epoch: primaryHealth.replication.epoch,
        seq: feed.cursor,
        primary: false,
      });
      expect(await r.verify("health", {})).toMatchObject({ ok: true, primary: false, stale: false });
    } finally {
      await replica.close();
      await primary.close();
    }
  });
});
