/**
 * Test helpers: temp folders, and a SQLite writer. This package has no SQLite dependency (the
 * apps bring theirs and pass a `check`), so the tests borrow better-sqlite3 from the workspace's
 * server-only @tkdb/audit package, which depends on it.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The part of better-sqlite3's API the tests use. */
export interface Db {
  exec(sql: string): void;
  pragma(sql: string, opts?: { simple: boolean }): unknown;
  prepare(sql: string): { run(...args: unknown[]): unknown; all(...args: unknown[]): unknown[] };
  close(): void;
}
type DbCtor = new (file: string, opts?: { readonly?: boolean; fileMustExist?: boolean }) => Db;

const Database = createRequire(new URL("../../audit/package.json", import.meta.url))(
  "better-sqlite3",
) as DbCtor;

export function openDb(file: string, opts?: { readonly?: boolean; fileMustExist?: boolean }): Db {
  return new Database(file, opts);
}

/** A WAL-mode database with table t(v TEXT); returns it open. */
export function createDb(file: string): Db {
  const db = openDb(file);
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE IF NOT EXISTS t (v TEXT NOT NULL)");
  return db;
}

/** The values of t in a database file (read-only). */
export function valuesIn(file: string): string[] {
  const db = openDb(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT v FROM t ORDER BY rowid").all() as Array<{ v: string }>).map((r) => r.v);
  } finally {
    db.close();
  }
}

/** PRAGMA integrity_check as a `check` callback: throws unless "ok"; returns the row count of t. */
export function integrityCheck(file: string): number {
  const db = openDb(file, { fileMustExist: true });
  try {
    const result = db.pragma("integrity_check", { simple: true });
    if (result !== "ok") throw new Error(`integrity_check: ${String(result)}`);
    return (db.prepare("SELECT count(*) AS n FROM t").all() as Array<{ n: number }>)[0]?.n ?? 0;
  } finally {
    db.close();
  }
}

export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, encoding: "utf8" })
      .map((f) => join(dir, f))
      .filter((f) => statSync(f).isFile());
  } catch {
    return [];
  }
}
