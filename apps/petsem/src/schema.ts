/**
 * petsem's SQLite schema (drizzle). Migrations are generated into ../drizzle with drizzle-kit and
 * committed; `0001` adds the triggers that make `audit` append-only.
 *
 * org and app ids are stored as decimal text: they are 64-bit unsigned on the wire (bigint), and
 * the same decimal form is what the AAD binds.
 */
import { sql } from "drizzle-orm";
import { blob, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Server-wide wrapped keys: the server key (idempotency fingerprints, doubles as the KEK check) and
 * the macaroon root key. Values are wrapped under the KEK. */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: blob("value", { mode: "buffer" }).notNull(),
});

/** One row per app: its version counter and its wrapped data key. */
export const apps = sqliteTable(
  "apps",
  {
    org: text("org").notNull(),
    app: text("app").notNull(),
    appVersion: integer("app_version").notNull(),
    kid: integer("kid").notNull(),
    wrappedDek: blob("wrapped_dek", { mode: "buffer" }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.app] })],
);

/** Every version of every secret. `sealed` and `digest` are NULL for a tombstone (unset). `digest`
 * is a random 128-bit id per version: nothing outside `sealed` depends on the value. */
export const secretVersions = sqliteTable(
  "secret_versions",
  {
    org: text("org").notNull(),
    app: text("app").notNull(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    appVersion: integer("app_version").notNull(),
    sealed: blob("sealed", { mode: "buffer" }),
    digest: blob("digest", { mode: "buffer" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.app, t.name, t.version] })],
);

/** The current version of each name (live or tombstoned). */
export const secretHeads = sqliteTable(
  "secret_heads",
  {
    org: text("org").notNull(),
    app: text("app").notNull(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    live: integer("live", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.org, t.app, t.name] }),
    index("secret_heads_live").on(t.org, t.app, t.live),
  ],
);

/** Idempotency / replay records for mutating RPCs: (client key, rid) → stored result. */
export const requests = sqliteTable(
  "requests",
  {
    clientKey: text("client_key").notNull(),
    rid: text("rid").notNull(),
    op: text("op").notNull(),
    fingerprint: blob("fingerprint", { mode: "buffer" }).notNull(),
    result: text("result").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.clientKey, t.rid] }), index("requests_created_at").on(t.createdAt)],
);

/** Append-only, hash-chained audit trail. Never holds a value. */
export const audit = sqliteTable("audit", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  ts: integer("ts").notNull(),
  kind: text("kind", { enum: ["intent", "outcome"] }).notNull(),
  op: text("op").notNull(),
  org: text("org").notNull(),
  app: text("app").notNull(),
  requestId: text("request_id").notNull(),
  detail: text("detail").notNull().default(sql`'{}'`),
  prevHash: blob("prev_hash", { mode: "buffer" }).notNull(),
  hash: blob("hash", { mode: "buffer" }).notNull(),
});

/**
 * Revoked petsem tokens (`petsem token revoke`), as Fly published its blacklist: the nonce's msgpack
 * encoding (every attenuation of a token shares it, so the whole lineage dies), when the row may be
 * pruned (NULL: never; petsem tokens record no expiry at mint) and when it was written. Checked on
 * every call; written only by the local CLI on the primary, with an audit record in the same
 * transaction.
 */
export const blacklist = sqliteTable("blacklist", {
  nonce: blob("nonce", { mode: "buffer" }).notNull().unique(),
  requiredUntil: text("required_until"),
  createdAt: text("created_at").default(sql`CURRENT_TIMESTAMP`),
});

/**
 * The deploy record of each app (`petsem secrets deploy`, and `secrets set` without --stage): the
 * app version the next boot must reach (its `min_version`) and when it was recorded. `list` shows a
 * secret whose change is newer than this record as Staged. Written only through the `deploy` RPC.
 */
export const deploys = sqliteTable(
  "deploys",
  {
    org: text("org").notNull(),
    app: text("app").notNull(),
    minVersion: integer("min_version").notNull(),
    deployedAt: integer("deployed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.app] })],
);

/**
 * Idempotency records of mutating RPCs (@tkdb/audit `IdempotencyRecords`, migration 0006):
 * (client key, rid) → op, keyed fingerprint of the arguments (names, never values), sealed result.
 * They replace `requests`, which stays readable for older databases and is no longer written.
 */
export const idempotencyRecords = sqliteTable(
  "idempotency_records",
  {
    clientKey: text("client_key").notNull(),
    rid: text("rid").notNull(),
    op: text("op").notNull(),
    fingerprint: blob("fingerprint", { mode: "buffer" }).notNull(),
    sealedResult: blob("sealed_result", { mode: "buffer" }).notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.clientKey, t.rid] })],
);

/** Audit intents whose effect committed, written in the effect's transaction (store/applied.ts). */
export const auditApplied = sqliteTable(
  "audit_applied",
  {
    node: text("node").notNull(),
    intentSeq: integer("intent_seq").notNull(),
    op: text("op").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.node, t.intentSeq] })],
);

/** Epochs, one per restore or promotion; the newest is current (store/epochs.ts). */
export const epochs = sqliteTable("epochs", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  epoch: text("epoch").notNull().unique(),
  reason: text("reason").notNull(),
  createdAt: integer("created_at").notNull(),
});

/** Each app's version when it was first written in an epoch (store/epochs.ts). */
export const appEpochs = sqliteTable(
  "app_epochs",
  {
    org: text("org").notNull(),
    app: text("app").notNull(),
    epoch: text("epoch").notNull(),
    baseVersion: integer("base_version").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.app, t.epoch] })],
);
