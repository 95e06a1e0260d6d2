import { sql } from "drizzle-orm";
import { blob, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
 * Idempotency records of the mutating signing ops live in `idempotency_records`, created by
 * migration 0002 from @tkdb/audit's IDEMPOTENCY_MIGRATION_SQL and used only through its
 * IdempotencyRecords (a WITHOUT ROWID table drizzle cannot express, so it is not declared here).
 * The older `idempotency` table (sealed, 24 h) was emptied and dropped by the same migration.
 */

/**
 * The audit intents whose effect committed: a mutation inserts (node, seq and hash of its durable
 * intent in the node's audit log) in the transaction that makes the change, so after a crash
 * `reconcile` knows whether an intent without an outcome committed ("ok") or not ("aborted").
 * Rows older than the idempotency horizon are pruned on the primary.
 */
export const auditIntents = sqliteTable(
  "audit_intents",
  {
    node: text("node").notNull(),
    seq: integer("seq").notNull(),
    /** The intent line's hash: a row from an earlier log of the same node name never matches. */
    hash: text("hash").notNull(),
    created: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.node, t.seq] })],
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

/**
 * The audit trail before @tkdb/audit's file log (migration 0002): no longer written. Kept so a
 * database from before still opens and `tkdb audit export --legacy` can export it once.
 */
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
