/**
 * Opens petsem's SQLite database: WAL, synchronous=FULL, a busy timeout for the (rare) second
 * writer process, and the committed drizzle migrations from ../drizzle.
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runMigrationsRacing } from "@tkdb/service";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import * as schema from "./schema.js";

export type Db = BetterSQLite3Database<typeof schema>;
export type Sqlite = Database.Database;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../drizzle", import.meta.url));

/** Opens the file without changing anything in it (no pragma that writes, no migration). */
export function openRaw(file: string): Sqlite {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma("busy_timeout = 10000");
  return sqlite;
}

/** WAL + migrations; call only once the KEK has been checked against the file. */
export function prepare(sqlite: Sqlite): Db {
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  // Deleted (destroyed) versions are overwritten with zeros rather than left in free pages.
  sqlite.pragma("secure_delete = ON");
  const db = drizzle(sqlite, { schema });
  runMigrationsRacing(() => migrate(db, { migrationsFolder: MIGRATIONS_FOLDER }));
  return db;
}

const statements = new WeakMap<Sqlite, Map<string, Database.Statement>>();

/**
 * The prepared statement for `sql` on `sqlite`, prepared once per connection (the hot reads:
 * resolve, token keys). SQLite re-prepares it by itself if the schema changes under it.
 */
export function stmt<R = unknown>(sqlite: Sqlite, sql: string): Database.Statement<unknown[], R> {
  let m = statements.get(sqlite);
  if (m === undefined) {
    m = new Map();
    statements.set(sqlite, m);
  }
  let s = m.get(sql);
  if (s === undefined) {
    s = sqlite.prepare(sql);
    m.set(sql, s);
  }
  return s as Database.Statement<unknown[], R>;
}

export function hasTable(sqlite: Sqlite, name: string): boolean {
  return (
    sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined
  );
}

export function fileExists(file: string): boolean {
  return file !== ":memory:" && existsSync(file);
}
