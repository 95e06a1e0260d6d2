/**
 * restore and verifiedRestore with the real Litestream binary. One replicated history is built
 * once (v1, then time T, then v2, each observed in the replica before going on) and every test
 * restores from it.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConfigOptions,
  generations,
  isLitestreamError,
  recordReplicator,
  replicate,
  restore,
  verifiedRestore,
} from "../src/index.js";
import { createDb, type Db, integrityCheck, tempDir, valuesIn } from "./helpers.js";

const dir = tempDir("litestream-restore-test-");
const live = join(dir.path, "live.db");
const config: ConfigOptions = { replicas: [{ path: join(dir.path, "replica"), syncInterval: "100ms" }] };
let T = "";

/** Polls a latest restore until it holds `n` rows (bounded): replication is observed, not slept on. */
async function waitRows(n: number): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; ; i++) {
    const probe = join(dir.path, `probe-${i}.db`);
    const got = await restore({ dbPath: live, config, outPath: probe }).then(
      () => valuesIn(probe).length,
      () => 0,
    );
    if (got >= n) return;
    if (performance.now() - t0 > 20_000) throw new Error(`the replica never reached ${n} rows`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  const db = createDb(live);
  const r = await replicate({ dbPath: live, config });
  try {
    await r.ready;
    db.prepare("INSERT INTO t VALUES (?)").run("v1");
    await waitRows(1);
    T = new Date().toISOString();
    db.prepare("INSERT INTO t VALUES (?)").run("v2");
    // v2 shipped by a periodic sync into the generation that holds T, observed before stop(): a
    // restore at T needs a generation whose time bounds contain T (Litestream's CalcRestoreTarget),
    // and a final sync that lost its `.tmp` race (replicate.ts point 4) is finished by another
    // Litestream run; this history must not depend on which generation that run ships to.
    await waitRows(2);
  } finally {
    await r.stop();
    db.close();
  }
  // On a busy machine the replica can need a moment before a restore at T finds its snapshot
  // (observed as "no matching backups found"): observe it, bounded, as waitRows does.
  await waitRestorableAt(T);
}, 90_000);

async function waitRestorableAt(ts: string): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; ; i++) {
    const probe = join(dir.path, `probe-t-${i}.db`);
    const failed = await restore({ dbPath: live, config, outPath: probe, timestamp: ts }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (failed === undefined) return;
    if (performance.now() - t0 > 30_000) {
      const gens = await generations({ dbPath: live, config }).catch((e: unknown) => e);
      throw new Error(
        `the replica never became restorable at ${ts}: ${String(failed)}; generations: ${JSON.stringify(gens)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
afterAll(() => dir.cleanup());

const out = (name: string) => join(dir.path, name);
const errOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("restore", () => {
  it("point in time: T gives v1 only; latest gives v1 and v2 (Date and RFC 3339 string alike)", async () => {
    await restore({ dbPath: live, config, outPath: out("at-t.db"), timestamp: T });
    expect(valuesIn(out("at-t.db"))).toEqual(["v1"]);
    await restore({ dbPath: live, config, outPath: out("at-t-date.db"), timestamp: new Date(T) });
    expect(valuesIn(out("at-t-date.db"))).toEqual(["v1"]);
    await restore({ dbPath: live, config, outPath: out("latest.db") });
    expect(valuesIn(out("latest.db"))).toEqual(["v1", "v2"]);
    expect((await generations({ dbPath: live, config })).length).toBeGreaterThanOrEqual(1);
  });

  it("never writes over an existing file, or beside a stale -wal: `conflict`, and the files are untouched", async () => {
    writeFileSync(out("exists.db"), "keep me");
    expect(
      isLitestreamError(
        await errOf(restore({ dbPath: live, config, outPath: out("exists.db") })),
        "conflict",
      ),
    ).toBe(true);
    expect(readFileSync(out("exists.db"), "utf8")).toBe("keep me");
    writeFileSync(out("orphan-wal.db-wal"), "stale frames");
    const e = await errOf(restore({ dbPath: live, config, outPath: out("orphan-wal.db") }));
    expect(isLitestreamError(e, "conflict")).toBe(true);
    expect(existsSync(out("orphan-wal.db"))).toBe(false);
  });

  it("no backup for that database is `not_found`; a malformed timestamp is `invalid_request`; neither leaves a file", async () => {
    const empty = { replicas: [{ path: join(dir.path, "empty-replica") }] };
    const e1 = await errOf(restore({ dbPath: live, config: empty, outPath: out("never1.db") }));
    expect(isLitestreamError(e1, "not_found")).toBe(true);
    expect((e1 as Error).message).toMatch(/no matching backups found/);
    for (const timestamp of [
      "yesterday",
      "2026-01-02 03:04:05",
      "2026-01-02T03:04:05",
      new Date(Number.NaN),
    ]) {
      const e2 = await errOf(restore({ dbPath: live, config, outPath: out("never2.db"), timestamp }));
      expect(isLitestreamError(e2, "invalid_request")).toBe(true);
    }
    expect(existsSync(out("never1.db")) || existsSync(out("never2.db"))).toBe(false);
  });
});

describe("verifiedRestore", () => {
  it("checks a private copy (never the target path) and only then puts it in place, mode 0600", async () => {
    const target = out("verified.db");
    const seen: string[] = [];
    const r = await verifiedRestore({
      dbPath: live,
      config,
      outPath: target,
      check: (p) => {
        seen.push(p);
        expect(existsSync(target)).toBe(false);
        return integrityCheck(p);
      },
    });
    expect(r.checked).toBe(2);
    expect(seen).toHaveLength(1);
    expect(seen[0]).not.toBe(target);
    expect(valuesIn(target)).toEqual(["v1", "v2"]);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(existsSync(seen[0] as string)).toBe(false);
  });

  it("a refused copy leaves nothing behind, and the app's own error comes back unchanged", async () => {
    class WrongKek extends Error {
      readonly code = "wrong_kek";
    }
    const target = out("refused.db");
    const thrown = new WrongKek("the KEK does not open it");
    const e = await errOf(
      verifiedRestore({
        dbPath: live,
        config,
        outPath: target,
        timestamp: T,
        check: () => {
          throw thrown;
        },
      }),
    );
    expect(e).toBe(thrown);
    expect(readdirSync(dir.path).filter((f) => f.startsWith("refused") || f.startsWith(".refused"))).toEqual(
      [],
    );
  });

  it("an existing database is replaced only with `replace`, and then kept beside with its -wal", async () => {
    const target = out("replace.db");
    const old: Db = createDb(target);
    old.pragma("wal_autocheckpoint = 0");
    old.prepare("INSERT INTO t VALUES (?)").run("old row in the wal");
    copyFileSync(`${target}-wal`, out("replace-wal-copy"));
    old.close(); // (closing checkpoints; put a -wal back to prove it is moved aside, not applied)
    copyFileSync(out("replace-wal-copy"), `${target}-wal`);
    const refused = await errOf(
      verifiedRestore({ dbPath: live, config, outPath: target, check: integrityCheck }),
    );
    expect(isLitestreamError(refused, "conflict")).toBe(true);
    const r = await verifiedRestore({
      dbPath: live,
      config,
      outPath: target,
      check: integrityCheck,
      replace: true,
    });
    expect(valuesIn(target)).toEqual(["v1", "v2"]);
    expect(r.previous).toMatch(/replace\.db\.before-restore-\d{8}T\d+Z$/);
    expect(valuesIn(r.previous as string)).toEqual(["old row in the wal"]);
    expect(existsSync(`${r.previous}-wal`)).toBe(true);
  });

  it("refuses to replace a database a live replicator is shipping (`conflict`)", async () => {
    const { path } = tempDir("litestream-live-");
    const db = join(path, "busy.db");
    createDb(db).close();
    const r = await replicate({ dbPath: db, config: { replicas: [{ path: join(path, "rep") }] } });
    try {
      const e = await errOf(
        verifiedRestore({ dbPath: live, config, outPath: db, check: integrityCheck, replace: true }),
      );
      expect(isLitestreamError(e, "conflict")).toBe(true);
    } finally {
      await r.stop();
    }
    expect(valuesIn(db)).toEqual([]);
  });

  it("a check that leaves the database open with frames in its -wal is refused (they would be lost)", async () => {
    let leaked: Db | undefined;
    const e = await errOf(
      verifiedRestore({
        dbPath: live,
        config,
        outPath: out("left-open.db"),
        check: (p) => {
          leaked = createDb(p);
          leaked.pragma("wal_autocheckpoint = 0");
          leaked.prepare("INSERT INTO t VALUES (?)").run("unflushed");
        },
      }),
    );
    leaked?.close();
    expect(isLitestreamError(e, "backup")).toBe(true);
    expect(existsSync(out("left-open.db"))).toBe(false);
  });
});

describe("verifiedRestore from a `litefs export` file (tkdb's production backups)", () => {
  it("copies, checks and places a plain SQLite file; the export itself is untouched", async () => {
    const exportFile = out("tkdb-20260102T030405Z.db");
    const e = createDb(exportFile);
    e.prepare("INSERT INTO t VALUES (?)").run("exported");
    e.pragma("journal_mode = DELETE");
    e.close();
    const before = readFileSync(exportFile);
    const r = await verifiedRestore({ exportFile, outPath: out("from-export.db"), check: integrityCheck });
    expect(r.checked).toBe(1);
    expect(valuesIn(out("from-export.db"))).toEqual(["exported"]);
    expect(readFileSync(exportFile).equals(before)).toBe(true);
  });

  it("refuses a missing file (`not_found`), a non-SQLite file and a file with a live -wal (`invalid_request`)", async () => {
    const missing = await errOf(
      verifiedRestore({ exportFile: out("nope.db"), outPath: out("x1.db"), check: integrityCheck }),
    );
    expect(isLitestreamError(missing, "not_found")).toBe(true);
    writeFileSync(out("not-sqlite.db"), "SQLite format 2\0 and then some");
    const notSqlite = await errOf(
      verifiedRestore({ exportFile: out("not-sqlite.db"), outPath: out("x2.db"), check: integrityCheck }),
    );
    expect(isLitestreamError(notSqlite, "invalid_request")).toBe(true);
    const withWal = out("with-wal.db");
    const w = createDb(withWal);
    w.pragma("wal_autocheckpoint = 0");
    w.prepare("INSERT INTO t VALUES (?)").run("in the wal");
    const e = await errOf(
      verifiedRestore({ exportFile: withWal, outPath: out("x3.db"), check: integrityCheck }),
    );
    w.close();
    expect(isLitestreamError(e, "invalid_request")).toBe(true);
    for (const f of ["x1.db", "x2.db", "x3.db"]) expect(existsSync(out(f))).toBe(false);
    expect(readdirSync(dir.path).filter((f) => f.startsWith(".x"))).toEqual([]);
  });

  it("a stale guard record naming a dead process does not block a replace", async () => {
    const target = out("stale-record.db");
    createDb(target).close();
    recordReplicator(`${target}.litestream.pid`, 999_999, "/nonexistent/litestream.yml");
    const r = await verifiedRestore({
      dbPath: live,
      config,
      outPath: target,
      check: integrityCheck,
      replace: true,
    });
    expect(basename(r.outPath)).toBe("stale-record.db");
    expect(valuesIn(target)).toEqual(["v1", "v2"]);
  });
});
