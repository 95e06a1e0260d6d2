import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runMigrationsRacing } from "@tkdb/service";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import * as schema from "./schema.js";

export type Db = BetterSQLite3Database<typeof schema>;

export interface OpenedDb {
  db: Db;
  sqlite: Database.Database;
  close(): void;
}

const MIGRATIONS = fileURLToPath(new URL("../../drizzle", import.meta.url));

/**
 * Opens (creating if needed) the database: WAL, foreign keys, busy timeout, secure_delete,
 * migrations applied. A replica's database is opened read-only and its schema comes from the
 * primary, so with `replica` no migration runs.
 *
 * secure_delete overwrites deleted rows and freed pages with zeros, and after the migration that
 * drops the cleartext replay table a truncating checkpoint leaves no old page image in the WAL: a
 * database from before the idempotency records were sealed keeps no cleartext token once opened
 * (a Litestream replica taken before the upgrade still holds them: start a new generation and
 * delete the old ones).
 */
export function openDb(path: string, opts: { replica?: boolean } = {}): OpenedDb {
  if (opts.replica) {
    // A replica (TKDB_REPLICA, or a LiteFS replica at start) opens the file read-only: no write of
    // any kind can reach it from this process (SQLITE_READONLY), and a missing file is an error,
    // never a new empty database. WAL mode is the primary's to set.
    const sqlite = new Database(path, { readonly: true, fileMustExist: true });
    sqlite.pragma("busy_timeout = 5000");
    return { db: drizzle(sqlite, { schema }), sqlite, close: () => sqlite.close() };
  }
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("secure_delete = ON");
  const db = drizzle(sqlite, { schema });
  if (!opts.replica) {
    // A database from before sealed idempotency records still has the cleartext `replay` table:
    // the migration overwrites and drops it; then the WAL is checkpointed and truncated once, so
    // no old page image survives there either. (Only then: Litestream owns checkpoints otherwise.)
    const hadCleartext =
      sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'replay'").get() !==
      undefined;
    // Two processes opening a new file at once race in drizzle's migrator: see runMigrationsRacing.
    runMigrationsRacing(() => migrate(db, { migrationsFolder: MIGRATIONS }));
    if (hadCleartext) sqlite.pragma("wal_checkpoint(TRUNCATE)");
  }
  return { db, sqlite, close: () => sqlite.close() };
}
