/**
 * tkdb on @tkdb/audit (issues 13 and 14 item 1), in process: mutations write a durable intent
 * before and an outcome after their transaction, are refused when the log cannot take the intent,
 * reconcile after a crash from `audit_intents`; idempotency records are sealed, bounded and
 * expire after the retry horizon; the migration keeps an old database opening.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type AuditLine, AuditLog, IDEMPOTENCY_MIGRATION_SQL, IdempotencyRecords } from "@tkdb/audit";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { afterAll, describe, expect, it } from "vitest";
import { openAudit, type TkdbAudit } from "../src/audit.js";
import { createKeyring, type IdempotencyKeys, native } from "../src/crypto.js";
import { TkdbError } from "../src/errors.js";
import {
  IDEMPOTENCY_TTL_MS,
  idempotencyCrypto,
  idempotencyRecords,
  runDischarge,
  runMutation,
} from "../src/mutate.js";
import { DrizzleStore } from "../src/store.js";
import { tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());
const MIGRATIONS = join(import.meta.dirname, "..", "drizzle");
const ACTOR = `noise:${Buffer.alloc(32, 7).toString("base64url")}`;
const RID = "-AAAAAAAAAAAAAAAAAAAAA"; // a request id may begin with "-" (base64url)

function keysFor(kek: Uint8Array): IdempotencyKeys {
  const ring = createKeyring({ kek });
  return { ring, sealingKid: () => ring.current };
}

let n = 0;
/** A fresh database (KEK check value written) and an audit log beside it. */
async function setup(opts: { clock?: () => number } = {}) {
  const dir = join(t.dir, `case${n++}`);
  mkdirSync(dir);
  const store = new DrizzleStore(join(dir, "tkdb.db"), native);
  const keys = keysFor(native.random(32));
  store.setMeta("kek_check", keys.ring.checkValue());
  const auditDir = join(dir, "audit");
  const audit = await openAudit(auditDir, "node1", store, { timers: false });
  const records = idempotencyRecords(store, native, keys, () => true, opts.clock);
  return { dir, store, keys, audit, auditDir, records };
}

function lines(auditDir: string): AuditLine[] {
  return readdirSync(auditDir)
    .filter((f) => /^audit-\d{12}\.jsonl$/.test(f))
    .sort()
    .flatMap((f) => readFileSync(join(auditDir, f), "utf8").split("\n").filter(Boolean))
    .map((l) => JSON.parse(l) as AuditLine);
}

function mintLike(
  store: DrizzleStore,
  audit: TkdbAudit,
  records: IdempotencyRecords,
  counter: { runs: number },
) {
  return (args: Record<string, unknown>, rid = RID) =>
    runMutation(
      { store, audit, op: "mint", actor: ACTOR, now: Date.now(), idempotency: { records, rid, args } },
      () => {
        counter.runs++;
        store.revoke(native.random(16), null); // a real change in the transaction
        return [{ token: `fm2_secret${counter.runs}` }, { org: "1" }];
      },
    );
}

describe("mutations on the audit log", () => {
  it("a mutation writes a durable intent, then its change with an audit_intents row, then an ok outcome naming the intent", async () => {
    const { store, audit, auditDir, records } = await setup();
    const c = { runs: 0 };
    await mintLike(store, audit, records, c)({ org: "1" });
    await audit.close();
    const ev = lines(auditDir).filter((l) => l.op === "mint");
    expect(ev.map((l) => l.kind)).toEqual(["intent", "outcome"]);
    const [intent, outcome] = ev as [AuditLine, AuditLine];
    expect(intent).toMatchObject({ actor: ACTOR, rid: `r${RID}` });
    expect(outcome).toMatchObject({ outcome: "ok", intent_seq: intent.seq, org: "1" });
    expect(store.intentCommitted("node1", intent.seq, intent.hash)).toBe(true);
    expect(store.intentCommitted("node1", intent.seq, "0".repeat(64))).toBe(false);
    store.close();
  });

  it("a duplicate (client key, rid, op, args) gets the stored result without running again; other args are idempotency_mismatch; no result is stored in the clear", async () => {
    const { dir, store, audit, records } = await setup();
    const c = { runs: 0 };
    const run = mintLike(store, audit, records, c);
    const first = await run({ org: "1", caveats: [] });
    expect(await run({ caveats: [], org: "1" })).toEqual(first);
    expect(c.runs).toBe(1);
    await expect(run({ org: "2", caveats: [] })).rejects.toMatchObject({ code: "idempotency_mismatch" });
    expect(c.runs).toBe(1);
    await audit.close();
    store.close();
    for (const f of readdirSync(dir).filter((f) => f.startsWith("tkdb.db")))
      expect(readFileSync(join(dir, f)).includes(Buffer.from("fm2_secret"))).toBe(false);
  });

  it("a refused mutation leaves no change and a refused outcome with its code", async () => {
    const { store, audit, auditDir } = await setup();
    await expect(
      runMutation({ store, audit, op: "revoke", actor: ACTOR, now: Date.now() }, () => {
        store.revoke(new Uint8Array([9]), null);
        throw new TkdbError("forbidden", "no");
      }),
    ).rejects.toMatchObject({ code: "forbidden" });
    expect(store.anyRevoked([new Uint8Array([9])])).toBe(false);
    await audit.close();
    const ev = lines(auditDir).filter((l) => l.op === "revoke");
    expect(ev.map((l) => [l.kind, l.outcome, l.code])).toEqual([
      ["intent", undefined, undefined],
      ["outcome", "refused", "forbidden"],
    ]);
    store.close();
  });

  it("when the log cannot take the intent the mutation does not run and the caller gets unavailable", async () => {
    const { store, audit, records } = await setup();
    await audit.close(); // a closed log refuses every append, as a failed fsync leaves it
    const c = { runs: 0 };
    await expect(mintLike(store, audit, records, c)({ org: "1" })).rejects.toMatchObject({
      code: "unavailable",
    });
    expect(c.runs).toBe(0);
    expect(store.sqlite.prepare("SELECT count(*) AS n FROM blacklist").get()).toEqual({ n: 0 });
    store.close();
  });

  it("a discharge writes nothing to the database: intent and outcome are in the log only; a closed log refuses it", async () => {
    const { dir, store, audit, auditDir } = await setup();
    store.close();
    const contents = () =>
      readdirSync(dir)
        .filter((f) => f.startsWith("tkdb.db"))
        .map((f) => readFileSync(join(dir, f)).toString("hex"))
        .join("|");
    const before = contents();
    for (let i = 0; i < 5; i++)
      expect(await runDischarge(audit, ACTOR, () => [{ discharge: "d" }, { org: "1", app: "2" }])).toEqual({
        discharge: "d",
      });
    expect(contents()).toBe(before);
    await audit.close();
    await expect(runDischarge(audit, ACTOR, () => [{ discharge: "d" }, { org: "1" }])).rejects.toMatchObject({
      code: "unavailable",
    });
    const ev = lines(auditDir).filter((l) => l.op === "discharge");
    expect(ev).toHaveLength(10);
    expect(ev.filter((l) => l.kind === "outcome").every((l) => l.outcome === "ok")).toBe(true);
  });
});

describe("restart reconciles intents without outcomes", () => {
  it("a committed mutation's intent is reconciled ok, an uncommitted one aborted, a discharge's as outcome unknown", async () => {
    const { store, auditDir } = await setup();
    // The crash: intents on disk, outcomes never written (the log is opened raw, as a process
    // killed between its intent and its outcome leaves it).
    const raw = await AuditLog.open(join(auditDir, "..", "raw"), { node: "node2", timers: false });
    const committed = await raw.appendDurable({ kind: "intent", op: "mint", actor: ACTOR });
    store.transaction(() => store.recordIntent("node2", committed.seq, committed.hash, Date.now()));
    // A row an earlier log of the same node name left at the next seq (a restored database)
    // does not make the lost intent look committed.
    store.transaction(() => store.recordIntent("node2", committed.seq + 1, "e".repeat(64), Date.now()));
    const lost = await raw.appendDurable({ kind: "intent", op: "revoke", actor: ACTOR });
    const discharge = await raw.appendDurable({ kind: "intent", op: "discharge", actor: ACTOR, org: "1" });
    await raw.close();
    const reopened = await openAudit(join(auditDir, "..", "raw"), "node2", store, { timers: false });
    await reopened.close();
    const outcomes = lines(join(auditDir, "..", "raw")).filter((l) => l.kind === "outcome");
    expect(outcomes.map((l) => [l.intent_seq, l.outcome, l.reconciled])).toEqual([
      [committed.seq, "ok", true],
      [lost.seq, "aborted", true],
      [discharge.seq, "error", true],
    ]);
    expect(outcomes.map((l) => l.code)).toEqual([undefined, "not_committed", "outcome_unknown"]);
    store.close();
  });
});

describe("idempotency records", () => {
  it("expire after the retry horizon (10 minutes), pruned only where the node is the primary", async () => {
    let now = Date.now();
    const { store, keys, audit, records } = await setup({ clock: () => now });
    const c = { runs: 0 };
    await mintLike(store, audit, records, c)({ org: "1" });
    const count = () =>
      (store.sqlite.prepare("SELECT count(*) AS n FROM idempotency_records").get() as { n: number }).n;
    expect(count()).toBe(1);
    expect(IDEMPOTENCY_TTL_MS).toBe(10 * 60 * 1000);
    now += IDEMPOTENCY_TTL_MS + 1;
    const replica = idempotencyRecords(
      store,
      native,
      keys,
      () => false,
      () => now,
    );
    expect(replica.prune()).toBe(0);
    expect(count()).toBe(1);
    expect(records.prune()).toBe(1);
    expect(count()).toBe(0);
    await audit.close();
    store.close();
  });

  it("a client over its bound is refused with unavailable before the effect, never evicted", async () => {
    const { store, keys, audit } = await setup();
    const bounded = new IdempotencyRecords(store.sqlite, {
      crypto: idempotencyCrypto(native, keys),
      maxPerClient: 2,
    });
    const c = { runs: 0 };
    const run = mintLike(store, audit, bounded, c);
    await run({ org: "1" }, "rid-one-aaaaaaaaaaaaaa");
    await run({ org: "1" }, "rid-two-aaaaaaaaaaaaaa");
    await expect(run({ org: "1" }, "rid-three-aaaaaaaaaaaa")).rejects.toMatchObject({ code: "unavailable" });
    expect(c.runs).toBe(2);
    // The first two still answer their retries.
    expect(await run({ org: "1" }, "rid-one-aaaaaaaaaaaaaa")).toEqual({ token: "fm2_secret1" });
    await audit.close();
    store.close();
  });
});

describe("migration 0002", () => {
  it("creates idempotency_records exactly as @tkdb/audit declares it", () => {
    const sql = readFileSync(join(MIGRATIONS, "0002_audit_log_and_idempotency_records.sql"), "utf8");
    const norm = (s: string) => s.replace(/\s+/g, " ").trim();
    for (const stmt of IDEMPOTENCY_MIGRATION_SQL.split("--> statement-breakpoint"))
      expect(norm(sql)).toContain(norm(stmt));
  });

  it("a database from before (old audit rows, old idempotency rows) still opens: audit rows kept for --legacy, old records dropped", () => {
    const old = join(t.dir, "pre-0002");
    mkdirSync(join(old, "meta"), { recursive: true });
    const journal = JSON.parse(readFileSync(join(MIGRATIONS, "meta", "_journal.json"), "utf8"));
    journal.entries = journal.entries.slice(0, 2);
    for (const e of journal.entries as { tag: string; idx: number }[]) {
      copyFileSync(join(MIGRATIONS, `${e.tag}.sql`), join(old, `${e.tag}.sql`));
      const snap = `${String(e.idx).padStart(4, "0")}_snapshot.json`;
      copyFileSync(join(MIGRATIONS, "meta", snap), join(old, "meta", snap));
    }
    writeFileSync(join(old, "meta", "_journal.json"), JSON.stringify(journal));
    const path = join(t.dir, "pre0002.db");
    const sqlite = new Database(path);
    sqlite.pragma("journal_mode = WAL");
    migrate(drizzle(sqlite), { migrationsFolder: old });
    sqlite
      .prepare(
        "INSERT INTO audit (seq, ts, op, actor, subject, details, prev_hash, hash) VALUES (1, 5, 'mint', 'c', '1', '{}', ?, ?)",
      )
      .run("0".repeat(64), "b".repeat(64));
    sqlite
      .prepare(
        "INSERT INTO idempotency (client_key, rid, op, fingerprint, sealed_result, expires) VALUES ('ck', 'r', 'mint', x'00', x'00', 1)",
      )
      .run();
    sqlite.close();
    const store = new DrizzleStore(path, native);
    expect(store.auditRecords()).toMatchObject([{ seq: 1, op: "mint" }]);
    const tables = (
      store.sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
    ).map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(["audit", "idempotency_records", "audit_intents"]));
    expect(tables).not.toContain("idempotency");
    store.close();
  });
});
