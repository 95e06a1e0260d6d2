/** Row access for apps, secret heads and secret versions (drizzle over better-sqlite3). */
import { and, eq } from "drizzle-orm";
import { type Db, type Sqlite, stmt } from "../db.js";
import * as t from "../schema.js";
import { LIMITS } from "../validate.js";

export type AppRow = typeof t.apps.$inferSelect;

interface Tables {
  readonly db: Db;
  readonly sqlite: Sqlite;
}

/** Joins a secret's head to the version row it points at. */
export const HEAD_VERSION = and(
  eq(t.secretVersions.org, t.secretHeads.org),
  eq(t.secretVersions.app, t.secretHeads.app),
  eq(t.secretVersions.name, t.secretHeads.name),
  eq(t.secretVersions.version, t.secretHeads.version),
);

const GET_APP =
  "SELECT org, app, app_version AS appVersion, kid, wrapped_dek AS wrappedDek, created_at AS createdAt FROM apps WHERE org = ? AND app = ?";

/** An app's row (a statement prepared once: this runs on every resolve). */
export function getApp({ sqlite }: Tables, org: string, app: string): AppRow | undefined {
  return stmt<AppRow>(sqlite, GET_APP).get(org, app);
}

export function getHead({ db }: Tables, org: string, app: string, name: string) {
  return db
    .select()
    .from(t.secretHeads)
    .where(and(eq(t.secretHeads.org, org), eq(t.secretHeads.app, app), eq(t.secretHeads.name, name)))
    .get();
}

export function liveCount({ sqlite }: Tables, org: string, app: string): number {
  const r = stmt<{ n: number }>(
    sqlite,
    "SELECT count(*) AS n FROM secret_heads WHERE org = ? AND app = ? AND live = 1",
  ).get(org, app) as { n: number };
  return r.n;
}

export function getVersion({ db }: Tables, org: string, app: string, name: string, version: number) {
  return db
    .select()
    .from(t.secretVersions)
    .where(
      and(
        eq(t.secretVersions.org, org),
        eq(t.secretVersions.app, app),
        eq(t.secretVersions.name, name),
        eq(t.secretVersions.version, version),
      ),
    )
    .get();
}

export interface VersionRow {
  readonly org: string;
  readonly app: string;
  readonly name: string;
  readonly version: number;
  readonly appVersion: number;
  /** null: an unset */
  readonly sealed: Uint8Array | null;
  readonly digest: Uint8Array | null;
  readonly now: number;
}

export function insertVersion({ db, sqlite }: Tables, v: VersionRow): void {
  db.insert(t.secretVersions)
    .values({
      org: v.org,
      app: v.app,
      name: v.name,
      version: v.version,
      appVersion: v.appVersion,
      sealed: v.sealed ? Buffer.from(v.sealed) : null,
      digest: v.digest ? Buffer.from(v.digest) : null,
      createdAt: v.now,
    })
    .run();
  // Retention: keep the newest LIMITS.versionsKept versions of a name; older ones are destroyed
  // (rows deleted, and secure_delete overwrites their pages), so they cannot be rolled back to.
  if (v.version > LIMITS.versionsKept) {
    stmt(sqlite, "DELETE FROM secret_versions WHERE org = ? AND app = ? AND name = ? AND version <= ?").run(
      v.org,
      v.app,
      v.name,
      v.version - LIMITS.versionsKept,
    );
  }
}

export function upsertHead(
  { db }: Tables,
  h: {
    org: string;
    app: string;
    name: string;
    version: number;
    live: boolean;
    createdAt: number;
    updatedAt: number;
  },
): void {
  db.insert(t.secretHeads)
    .values(h)
    .onConflictDoUpdate({
      target: [t.secretHeads.org, t.secretHeads.app, t.secretHeads.name],
      set: { version: h.version, live: h.live, updatedAt: h.updatedAt },
    })
    .run();
}

export function setAppVersion({ db }: Tables, org: string, app: string, appVersion: number): void {
  db.update(t.apps)
    .set({ appVersion })
    .where(and(eq(t.apps.org, org), eq(t.apps.app, app)))
    .run();
}
