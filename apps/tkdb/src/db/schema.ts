import { sql } from "drizzle-orm";
import { blob, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

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

/**
 * Idempotency records of the mutating signing ops (org_create, mint, revoke, strip): a duplicate
 * `(client key, rid)` gets the stored result back. No cleartext: `fingerprint` is a keyed HMAC of
 * op and canonical args (key derived from the KEK), `sealed_result` the result sealed under another
 * KEK subkey with client key, rid and op as associated data. Kept 24 h (pruned at start).
 */
export const idempotency = sqliteTable(
  "idempotency",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    clientKey: text("client_key").notNull(),
    rid: text("rid").notNull(),
    op: text("op").notNull(),
    fingerprint: blob("fingerprint", { mode: "buffer" }).notNull(),
    sealedResult: blob("sealed_result", { mode: "buffer" }).notNull(),
    expires: integer("expires").notNull(),
  },
  (t) => [uniqueIndex("idempotency_client_rid").on(t.clientKey, t.rid)],
);

/**
 * What tkdb minted (by `mint`, or by `strip` from a user token): the nonce (not a secret: the
 * revocation feed publishes nonces), its org, how many leading caveats were tkdb's own at mint time
 * (their ValidityWindow is the one `strip` removes; 0 for strip outputs, whose windows are all the
 * holder's), the earliest expiry tkdb gave it (`revoke`'s required_until), and for a service token
 * the user token nonce it came from (`revoke` follows it). Never a token, a tail or a key.
 */
export const tokens = sqliteTable(
  "tokens",
  {
    nonce: blob("nonce", { mode: "buffer" }).primaryKey(),
    org: text("org").notNull(),
    kind: text("kind", { enum: ["mint", "strip"] }).notNull(),
    parent: blob("parent", { mode: "buffer" }),
    mintCaveats: integer("mint_caveats").notNull(),
    /** Unix seconds; NULL when tkdb gave it no expiry. */
    expires: integer("expires"),
    created: integer("created_at").notNull(),
  },
  (t) => [index("tokens_parent").on(t.parent)],
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
