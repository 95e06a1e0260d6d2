import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import {
  DEFAULT_IDEMPOTENCY_TTL_MS,
  IDEMPOTENCY_DDL,
  IDEMPOTENCY_MIGRATION_SQL,
  IdempotencyRecords,
  isAuditError,
  type Lookup,
} from "../src/index.js";
import { flyTokenText, manualClock, tempDir, testKekCrypto } from "./fixtures/helpers.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(opts: Partial<ConstructorParameters<typeof IdempotencyRecords>[1]> = {}) {
  const t = tempDir("idem");
  const file = join(t.dir, "app.db");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.exec(IDEMPOTENCY_DDL);
  cleanups.push(() => {
    db.close();
    t.cleanup();
  });
  const clock = manualClock();
  const records = new IdempotencyRecords(db, { crypto: testKekCrypto(), clock: clock.now, ...opts });
  /** One mutation as an app runs it: lookup, effect, store, in one transaction. */
  const run = <R>(client: string, rid: string, op: string, args: unknown, effect: () => R): R =>
    db.transaction(() => {
      const l: Lookup<R> = records.lookup<R>(client, rid, op, args);
      if (l.hit) return l.result;
      const r = effect();
      records.store(client, rid, op, l, r);
      return r;
    })();
  return { db, file, clock, records, run };
}

const code = (f: () => unknown) => {
  try {
    f();
    return "none";
  } catch (e) {
    return isAuditError(e) ? e.code : String(e);
  }
};

describe("idempotency records", () => {
  it("answers a retry (same client, rid, op and arguments) with the stored result, without a second effect", () => {
    const { run } = setup();
    let effects = 0;
    const mint = () => ({ token: `t${++effects}`, n: effects });
    expect(run("client-a", "rid-1", "mint", { org: "o", caveats: [1, 2] }, mint)).toEqual({
      token: "t1",
      n: 1,
    });
    expect(run("client-a", "rid-1", "mint", { caveats: [1, 2], org: "o" }, mint)).toEqual({
      token: "t1",
      n: 1,
    });
    expect(effects).toBe(1);
  });

  it("refuses the same rid with other arguments or another op (idempotency_mismatch), changing nothing", () => {
    const { run } = setup();
    run("client-a", "rid-1", "mint", { org: "o" }, () => ({ ok: 1 }));
    expect(code(() => run("client-a", "rid-1", "mint", { org: "p" }, () => ({ ok: 2 })))).toBe(
      "idempotency_mismatch",
    );
    expect(code(() => run("client-a", "rid-1", "revoke", { org: "o" }, () => ({ ok: 3 })))).toBe(
      "idempotency_mismatch",
    );
    expect(run("client-a", "rid-1", "mint", { org: "o" }, () => ({ ok: 4 }))).toEqual({ ok: 1 });
  });

  it("keys records by client: another client's identical rid is its own request", () => {
    const { run } = setup();
    run("client-a", "rid-1", "mint", { org: "o" }, () => ({ who: "a" }));
    expect(run("client-b", "rid-1", "mint", { org: "o" }, () => ({ who: "b" }))).toEqual({ who: "b" });
  });

  it("never stores a result or an argument in the clear: the database file holds neither the token nor the args", () => {
    const { run, db, file } = setup();
    const token = flyTokenText();
    const secretArg = "arg-value-that-must-not-appear-1234";
    run("client-a", "rid-1", "mint", { note: secretArg }, () => ({ token }));
    db.pragma("wal_checkpoint(TRUNCATE)");
    const bytes = readFileSync(file);
    expect(bytes.includes(Buffer.from(token.slice(6, 60)))).toBe(false);
    expect(bytes.includes(Buffer.from(secretArg))).toBe(false);
    expect(bytes.includes(Buffer.from("rid-1"))).toBe(true);
  });

  it("binds a sealed result to its client, rid and op: a row moved to another request does not open", () => {
    const { run, db } = setup();
    run("client-a", "rid-1", "mint", { org: "o" }, () => ({ token: "A" }));
    run("client-a", "rid-2", "mint", { org: "o" }, () => ({ token: "B" }));
    db.prepare(
      "UPDATE idempotency_records SET sealed_result = (SELECT sealed_result FROM idempotency_records WHERE rid = 'rid-1') WHERE rid = 'rid-2'",
    ).run();
    expect(code(() => run("client-a", "rid-2", "mint", { org: "o" }, () => ({ token: "C" })))).toBe(
      "integrity",
    );
  });

  it("expires records after the TTL (default 10 minutes): an expired rid is a new request", () => {
    const { run, clock } = setup();
    expect(DEFAULT_IDEMPOTENCY_TTL_MS).toBe(600_000);
    run("client-a", "rid-1", "mint", { org: "o" }, () => ({ n: 1 }));
    clock.advance(DEFAULT_IDEMPOTENCY_TTL_MS - 1);
    expect(run("client-a", "rid-1", "mint", { org: "o" }, () => ({ n: 2 }))).toEqual({ n: 1 });
    clock.advance(1);
    expect(run("client-a", "rid-1", "mint", { org: "other" }, () => ({ n: 3 }))).toEqual({ n: 3 });
  });

  it("refuses a client over its bound with unavailable and never evicts its live records", () => {
    const { run } = setup({ maxPerClient: 3 });
    for (let i = 0; i < 3; i++) run("client-a", `rid-${i}`, "mint", { i }, () => ({ i }));
    expect(code(() => run("client-a", "rid-9", "mint", { i: 9 }, () => ({ i: 9 })))).toBe("unavailable");
    for (let i = 0; i < 3; i++)
      expect(run("client-a", `rid-${i}`, "mint", { i }, () => ({ i: -1 }))).toEqual({ i });
    expect(run("client-b", "rid-9", "mint", { i: 9 }, () => ({ i: 9 }))).toEqual({ i: 9 });
  });

  it("prunes expired records on the primary only", () => {
    let primary = false;
    const { run, clock, records, db } = setup({ isPrimary: () => primary });
    for (let i = 0; i < 5; i++) run("client-a", `rid-${i}`, "mint", { i }, () => ({ i }));
    clock.advance(DEFAULT_IDEMPOTENCY_TTL_MS);
    expect(records.prune()).toBe(0);
    primary = true;
    expect(records.prune(2)).toBe(2);
    expect(records.prune()).toBe(3);
    expect(db.prepare("SELECT count(*) AS n FROM idempotency_records").get()).toEqual({ n: 0 });
  });

  it("refuses bad keys and results that would not round-trip (bigint)", () => {
    const { run } = setup();
    expect(code(() => run("client a", "rid-1", "mint", {}, () => ({})))).toBe("invalid_request");
    expect(code(() => run("client-a", "", "mint", {}, () => ({})))).toBe("invalid_request");
    expect(code(() => run("client-a", "rid-1", "mint", {}, () => ({ n: 1n })))).toBe("invalid_request");
  });

  it("ships its DDL as a drizzle migration too (same tables)", () => {
    const db = new Database(":memory:");
    for (const stmt of IDEMPOTENCY_MIGRATION_SQL.split("--> statement-breakpoint")) db.exec(stmt);
    const names = db.prepare("SELECT name FROM sqlite_master ORDER BY name").all();
    expect(names).toEqual([
      { name: "idempotency_records" },
      { name: "idempotency_records_client" },
      { name: "idempotency_records_expires" },
    ]);
    db.close();
  });
});
