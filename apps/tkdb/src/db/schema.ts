import { sql } from "drizzle-orm";
import { blob, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** One HMAC root key per org, sealed with the KEK (AAD = org + kid). */
export const rootKeys = sqliteTable("root_keys", {
  org: text("org").primaryKey(),
  kid: blob("kid", { mode: "buffer" }).notNull().unique(),
  sealedKey: blob("sealed_key", { mode: "buffer" }).notNull(),
  created: integer("created_at").notNull(),
  retired: integer("retired_at"),
});

/** Exactly as Fly published it; the implicit rowid is the revocation feed's cursor. */
export const blacklist = sqliteTable("blacklist", {
  nonce: blob("nonce", { mode: "buffer" }).notNull().unique(),
  requiredUntil: text("required_until"),
  createdAt: text("created_at").default(sql`CURRENT_TIMESTAMP`),
});

export const replay = sqliteTable(
  "replay",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    clientKey: text("client_key").notNull(),
    rid: text("rid").notNull(),
    op: text("op").notNull(),
    result: text("result").notNull(),
    expires: integer("expires").notNull(),
  },
  (t) => [uniqueIndex("replay_client_rid").on(t.clientKey, t.rid)],
);

/** Append-only, hash-chained: hash = SHA-256(prev_hash ‖ canonical record). */
export const audit = sqliteTable("audit", {
  seq: integer("seq").primaryKey(),
  ts: integer("ts").notNull(),
  op: text("op").notNull(),
  actor: text("actor").notNull(),
  subject: text("subject").notNull(),
  details: text("details").notNull(),
  prevHash: text("prev_hash").notNull(),
  hash: text("hash").notNull(),
});

/** Singleton settings: the KEK check value. */
export const meta = sqliteTable("meta", {
  name: text("name").primaryKey(),
  value: blob("value", { mode: "buffer" }).notNull(),
});
