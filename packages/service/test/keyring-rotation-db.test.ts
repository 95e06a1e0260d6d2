/**
 * rotateDatabaseKek, the SQLite half of KEK rotation both apps use (`tkdb kek rotate`, `petsem kek
 * rotate`, restores under a retired KEK), on a real better-sqlite3 file with two sealed columns and
 * a check row (fixtures/rotation-db.ts): what it rewrites, what it leaves, when it refuses, and
 * what a kill -9 inside its transaction leaves on disk.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "../src/crypto.js";
import { isServiceError } from "../src/errors.js";
import { Keyring } from "../src/keyring.js";
import { isKeyringError } from "../src/keyring-errors.js";
import { rotateDatabaseKek } from "../src/keyring-rotation-db.js";
import { makeDb, openAll, SPEC } from "./fixtures/rotation-db.js";
import { rotateAndKill, type StopAt, whichOpen } from "./kek-crash-harness.js";

const dir = mkdtempSync(join(tmpdir(), "service-rotation-db-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `db-${n++}.sqlite`);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function rotate(path: string, ring: Keyring, opts: Parameters<typeof rotateDatabaseKek>[3] = {}) {
  const db = new Database(path);
  try {
    return rotateDatabaseKek(db, ring, SPEC, opts);
  } finally {
    db.close();
  }
}

describe("rotateDatabaseKek", () => {
  const [oldKek, newKek] = [randomBytes(32), randomBytes(32)];
  const rotating = Keyring.create({ current: oldKek, next: newKek });

  it("rewraps every sealed field of every listed column under the next KEK and switches the check value; rows the column leaves are untouched", () => {
    const path = file();
    makeDb(path, Keyring.create({ current: oldKek }), 30);
    const plainBefore = new Database(path).prepare("SELECT org, sealed FROM notes WHERE plain = 1").all();
    const r = rotate(path, rotating);
    expect(r).toMatchObject({ from: rotating.current, to: rotating.next, dryRun: false });
    // 30 secrets, 20 sealed notes (every third note is plain)
    expect(r.counts).toMatchObject({ total: 50, rewrapped: 50, alreadyUnderTarget: 0 });
    expect(openAll(path, Keyring.create({ current: newKek }))).toEqual({ kid: rotating.next, opened: 50 });
    expect(() => openAll(path, Keyring.create({ current: oldKek }))).toThrow();
    expect(new Database(path).prepare("SELECT org, sealed FROM notes WHERE plain = 1").all()).toEqual(
      plainBefore,
    );
    // a re-run finds everything under the target
    expect(rotate(path, rotating).counts).toMatchObject({ total: 50, rewrapped: 0, alreadyUnderTarget: 50 });
  });

  it("a dry run counts per KEK and writes nothing", () => {
    const path = file();
    makeDb(path, Keyring.create({ current: oldKek }), 9);
    const before = readFileSync(path);
    const r = rotate(path, rotating, { dryRun: true });
    expect(r).toMatchObject({ from: rotating.current, to: rotating.current, dryRun: true });
    expect(r.counts.byKid).toEqual({ [rotating.current]: 15 });
    expect(openAll(path, Keyring.create({ current: oldKek })).opened).toBe(15);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("a listed table the database does not have (made before it existed) is skipped", () => {
    const path = file();
    makeDb(path, Keyring.create({ current: oldKek }), 5, { notesTable: false });
    expect(rotate(path, rotating).counts).toMatchObject({ total: 5, rewrapped: 5 });
    const db = new Database(path, { readonly: true });
    const check = SPEC.check.read(db) as Buffer;
    db.close();
    expect(SPEC.check.role(Keyring.create({ current: newKek }), check).kid).toBe(rotating.next);
  });

  it("a field that does not open stops the rotation before anything is written", () => {
    const path = file();
    makeDb(path, Keyring.create({ current: oldKek }), 12);
    const db = new Database(path);
    const row = db.prepare("SELECT sealed FROM secrets WHERE id = 7").get() as { sealed: Buffer };
    row.sealed.writeUInt8((row.sealed.readUInt8(row.sealed.length - 1) ^ 1) & 0xff, row.sealed.length - 1);
    db.prepare("UPDATE secrets SET sealed = ? WHERE id = 7").run(row.sealed);
    db.close();
    const before = readFileSync(path);
    let thrown: unknown;
    try {
      rotate(path, rotating);
    } catch (e) {
      thrown = e;
    }
    expect(isKeyringError(thrown) && /does not open/.test(thrown.message)).toBe(true);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("a field moved to another row does not open there (its binding names the row), so it stops the rotation too", () => {
    const path = file();
    makeDb(path, Keyring.create({ current: oldKek }), 4);
    const db = new Database(path);
    const one = db.prepare("SELECT sealed FROM secrets WHERE id = 1").get() as { sealed: Buffer };
    db.prepare("UPDATE secrets SET sealed = ? WHERE id = 2").run(one.sealed);
    db.close();
    expect(() => rotate(path, rotating)).toThrow(/does not open/);
  });

  it("a database without a check value is not_found; a KEK the check does not name is refused by the app's role check", () => {
    const path = file();
    makeDb(path, Keyring.create({ current: oldKek }), 2);
    const db = new Database(path);
    db.exec("DELETE FROM meta");
    db.close();
    let thrown: unknown;
    try {
      rotate(path, rotating);
    } catch (e) {
      thrown = e;
    }
    expect(isServiceError(thrown) && thrown.code === "not_found").toBe(true);
    const other = file();
    makeDb(other, Keyring.create({ current: oldKek }), 2);
    expect(() => rotate(other, Keyring.create({ current: randomBytes(32), next: newKek }))).toThrow();
    expect(openAll(other, Keyring.create({ current: oldKek })).opened).toBe(4);
  });
});

describe("rotateDatabaseKek under kill -9", () => {
  const WORKER = fileURLToPath(new URL("./fixtures/rotate-db-worker.ts", import.meta.url));
  const CWD = fileURLToPath(new URL("..", import.meta.url));

  it("killed inside its transaction (first, middle, last row) the file opens with the old KEK alone; killed after commit, with the new one alone", {
    timeout: 240_000,
  }, async () => {
    const [a, b] = [randomBytes(32), randomBytes(32)];
    const base = file();
    makeDb(base, Keyring.create({ current: a }), 60); // 60 secrets + 40 sealed notes
    const cases: [StopAt, "old" | "new"][] = [
      [1, "old"],
      [50, "old"],
      [100, "old"],
      ["commit", "new"],
    ];
    for (const [stopAt, expected] of cases) {
      const path = join(dir, `kill-${stopAt}.sqlite`);
      copyFileSync(base, path);
      await rotateAndKill(WORKER, CWD, { file: path, kek: hex(a), next: hex(b), stopAt });
      const opens = whichOpen(
        a,
        b,
        (kek) => openAll(path, Keyring.create({ current: kek })).opened === 100,
        isKeyringError,
      );
      expect(opens, `killed at ${stopAt}`).toEqual([expected]);
    }
  });
});
