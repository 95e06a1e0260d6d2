/**
 * tkdb's storage: the drizzle implementation of TkdbStore (the contract is declared in tokens.ts,
 * where the token service uses it) and the row types. Error contract: every method throws TkdbError("storage") on an unexpected
 * database failure; `transaction` runs its callback in one BEGIN IMMEDIATE transaction and rolls
 * everything back if it throws, so a change, its idempotency record (@tkdb/audit's
 * IdempotencyRecords over `sqlite`) and its `audit_intents` row commit together. The audit trail
 * itself is @tkdb/audit's file log (audit.ts), not a table; `audit` is the old table, read only.
 */
import type { AuditIds } from "@tkdb/audit";
import type Database from "better-sqlite3";
import { and, asc, eq, inArray, lt } from "drizzle-orm";
import type { Primitives } from "./crypto.js";
import { type Db, type OpenedDb, openDb } from "./db/open.js";
import { audit, auditIntents, blacklist, meta, rootKeys, tokens } from "./db/schema.js";
import { TkdbError } from "./errors.js";
import type { TkdbStore } from "./tokens.js";

export interface RootKeyRow {
  org: string;
  kid: Uint8Array;
  sealedKey: Uint8Array;
  created: number;
}

/** What tkdb recorded when it minted a token (`mint`) or made a service token (`strip`). */
export interface TokenRow {
  nonce: Uint8Array;
  org: string;
  kind: "mint" | "strip";
  /** strip: the nonce of the token it was made from. */
  parent: Uint8Array | null;
  /** Leading caveats placed by tkdb at mint time (0 for strip outputs). */
  mintCaveats: number;
  /** Unix seconds: the earliest expiry tkdb gave the token; null for none. */
  expires: number | null;
  created: number;
}

/** What an op's audit event names besides op, actor and outcome: typed ids, never material. */
export type AuditInput = AuditIds;

/** A row of the old in-database audit table (before migration 0002; no longer written). */
export interface AuditRecord {
  op: string;
  actor: string;
  subject: string;
  details: Record<string, unknown>;
  seq: number;
  ts: number;
  prevHash: string;
  hash: string;
}

export type { TkdbStore };

/** Unix seconds as SQLite's DATETIME text (`CURRENT_TIMESTAMP`'s form, UTC): compares as text. */
export function sqlDatetime(unixS: number): string {
  return new Date(unixS * 1000).toISOString().slice(0, 19).replace("T", " ");
}

/** Nonces checked per revocation query (anyRevoked). */
const REVOKED_BATCH = 8;

export class DrizzleStore implements TkdbStore {
  private readonly opened: OpenedDb;
  private readonly db: Db;
  constructor(
    path: string,
    /** Kept for callers: storage itself no longer hashes or seals anything. */
    _p: Primitives,
    opts: { replica?: boolean } = {},
  ) {
    try {
      this.opened = openDb(path, opts);
    } catch (cause) {
      throw new TkdbError("storage", "cannot open the database", { cause });
    }
    this.db = this.opened.db;
  }

  transaction<T>(fn: () => T): T {
    return this.opened.sqlite.transaction(fn).immediate();
  }

  getMeta(name: string): Uint8Array | undefined {
    const r = this.db.select().from(meta).where(eq(meta.name, name)).get();
    return r === undefined ? undefined : new Uint8Array(r.value);
  }

  setMeta(name: string, value: Uint8Array): void {
    this.db
      .insert(meta)
      .values({ name, value: Buffer.from(value) })
      .onConflictDoUpdate({ target: meta.name, set: { value: Buffer.from(value) } })
      .run();
  }

  private row(r: typeof rootKeys.$inferSelect | undefined): RootKeyRow | undefined {
    if (r === undefined || r.retired !== null) return undefined;
    return {
      org: r.org,
      kid: new Uint8Array(r.kid),
      sealedKey: new Uint8Array(r.sealedKey),
      created: r.created,
    };
  }

  /**
   * The statements of the hot read paths (every verify and discharge), prepared once on first use
   * (drizzle builds and prepares its SQL on every call: a fifth of a verify's time in a profile).
   */
  private hot?: {
    byOrg: Database.Statement<[string], typeof rootKeys.$inferSelect>;
    byKid: Database.Statement<[Buffer], typeof rootKeys.$inferSelect>;
    revoked: Database.Statement<[Buffer], number>;
  };
  private get stmts() {
    const db = this.opened.sqlite;
    const cols = "org, kid, sealed_key AS sealedKey, created_at AS created, retired_at AS retired";
    this.hot ??= {
      byOrg: db.prepare(`SELECT ${cols} FROM root_keys WHERE org = ?`),
      byKid: db.prepare(`SELECT ${cols} FROM root_keys WHERE kid = ?`),
      revoked: db.prepare<[Buffer], number>("SELECT 1 FROM blacklist WHERE nonce = ?").pluck(),
    };
    return this.hot;
  }

  rootKeyByOrg(org: string): RootKeyRow | undefined {
    return this.row(this.stmts.byOrg.get(org));
  }

  rootKeyByKid(kid: Uint8Array): RootKeyRow | undefined {
    return this.row(this.stmts.byKid.get(Buffer.from(kid.buffer, kid.byteOffset, kid.length)));
  }

  /** `SELECT <root key by kid>, EXISTS(<any of k nonces revoked>)`, prepared once per k. */
  private keyAndRevoked: Database.Statement<Buffer[], typeof rootKeys.$inferSelect & { revoked: number }>[] =
    [];

  /**
   * A verify's two reads in one statement (one native call and one read snapshot, not two): the
   * live root key of `kid` (undefined when unknown or retired) and whether any of `nonces` is revoked.
   */
  rootKeyAndRevoked(
    kid: Uint8Array,
    nonces: readonly Uint8Array[],
  ): { row: RootKeyRow; revoked: boolean } | undefined {
    const k = nonces.length;
    if (k === 0 || k > REVOKED_BATCH) {
      const row = this.rootKeyByKid(kid);
      return row === undefined ? undefined : { row, revoked: this.anyRevoked(nonces) };
    }
    this.keyAndRevoked[k] ??= this.opened.sqlite.prepare(
      `SELECT org, kid, sealed_key AS sealedKey, created_at AS created, retired_at AS retired,
         EXISTS (SELECT 1 FROM blacklist WHERE nonce IN (${Array(k).fill("?").join(", ")})) AS revoked
       FROM root_keys WHERE kid = ?`,
    );
    const buf = (n: Uint8Array) => Buffer.from(n.buffer, n.byteOffset, n.length);
    const r = this.keyAndRevoked[k]?.get(...nonces.map(buf), buf(kid));
    const row = this.row(r);
    return row === undefined || r === undefined ? undefined : { row, revoked: Boolean(r.revoked) };
  }

  insertRootKey(row: RootKeyRow): void {
    this.db
      .insert(rootKeys)
      .values({
        org: row.org,
        kid: Buffer.from(row.kid),
        sealedKey: Buffer.from(row.sealedKey),
        created: row.created,
      })
      .run();
  }

  /** `SELECT … IN (?, …)` for k nonces, prepared once per k (k ≤ REVOKED_BATCH). */
  private revokedIn: Database.Statement<Buffer[], number>[] = [];

  /**
   * One statement for up to REVOKED_BATCH nonces (a verify checks the token and each discharge:
   * one native call instead of one per nonce), in batches beyond that.
   */
  anyRevoked(nonces: readonly Uint8Array[]): boolean {
    const buf = (n: Uint8Array) => Buffer.from(n.buffer, n.byteOffset, n.length);
    if (nonces.length === 1) return this.stmts.revoked.get(buf(nonces[0] as Uint8Array)) !== undefined;
    for (let i = 0; i < nonces.length; i += REVOKED_BATCH) {
      const batch = nonces.slice(i, i + REVOKED_BATCH).map(buf);
      const k = batch.length;
      this.revokedIn[k] ??= this.opened.sqlite
        .prepare<Buffer[], number>(
          `SELECT 1 FROM blacklist WHERE nonce IN (${Array(k).fill("?").join(", ")}) LIMIT 1`,
        )
        .pluck();
      if ((this.revokedIn[k] as Database.Statement<Buffer[], number>).get(...batch) !== undefined)
        return true;
    }
    return false;
  }

  revoke(nonce: Uint8Array, requiredUntil: number | null): boolean {
    const r = this.db
      .insert(blacklist)
      .values({
        nonce: Buffer.from(nonce),
        requiredUntil: requiredUntil === null ? null : sqlDatetime(requiredUntil),
      })
      .onConflictDoNothing()
      .run();
    return r.changes === 1;
  }

  /**
   * Deletes rows past their `required_until`, except the newest row: the implicit rowid is the
   * feed's cursor, and SQLite gives a new row max(rowid)+1, so deleting the newest row would let the
   * next revocation take a rowid at or below a cursor that followers already hold, and they would
   * never see it. Keeping the newest row keeps rowids strictly increasing (Fly's table shape stays).
   */
  pruneBlacklist(beforeS: number): number {
    return this.opened.sqlite
      .prepare(
        `DELETE FROM blacklist WHERE required_until IS NOT NULL AND required_until < ?
           AND rowid < (SELECT max(rowid) FROM blacklist)`,
      )
      .run(sqlDatetime(beforeS)).changes;
  }

  insertToken(row: TokenRow): void {
    this.db
      .insert(tokens)
      .values({
        nonce: Buffer.from(row.nonce),
        org: row.org,
        kind: row.kind,
        parent: row.parent === null ? null : Buffer.from(row.parent),
        mintCaveats: row.mintCaveats,
        expires: row.expires,
        created: row.created,
      })
      .run();
  }

  tokenByNonce(nonce: Uint8Array): TokenRow | undefined {
    const r = this.db
      .select()
      .from(tokens)
      .where(eq(tokens.nonce, Buffer.from(nonce)))
      .get();
    if (r === undefined) return undefined;
    return {
      nonce: new Uint8Array(r.nonce),
      org: r.org,
      kind: r.kind,
      parent: r.parent === null ? null : new Uint8Array(r.parent),
      mintCaveats: r.mintCaveats,
      expires: r.expires,
      created: r.created,
    };
  }

  tokensDerivedFrom(parents: readonly Uint8Array[]): Uint8Array[] {
    if (parents.length === 0) return [];
    return this.db
      .select({ nonce: tokens.nonce })
      .from(tokens)
      .where(
        inArray(
          tokens.parent,
          parents.map((p) => Buffer.from(p)),
        ),
      )
      .all()
      .map((r) => new Uint8Array(r.nonce));
  }

  revocationsSince(cursor: number, limit: number): { nonces: Uint8Array[]; cursor: number } {
    const rows = this.opened.sqlite
      .prepare("SELECT rowid AS id, nonce FROM blacklist WHERE rowid > ? ORDER BY rowid LIMIT ?")
      .all(cursor, limit) as { id: number; nonce: Buffer }[];
    const last = rows[rows.length - 1];
    return {
      nonces: rows.map((r) => new Uint8Array(r.nonce)),
      cursor: last === undefined ? cursor : last.id,
    };
  }

  /** The better-sqlite3 handle, for @tkdb/audit's IdempotencyRecords (same transactions). */
  get sqlite(): Database.Database {
    return this.opened.sqlite;
  }

  /**
   * Marks this node's audit intent (seq and line hash) as committed, inside the mutation's
   * transaction. A row left by an earlier log of the same node name (a restored database, a lost
   * volume) with the same seq is replaced: the hash tells the two apart.
   */
  recordIntent(node: string, seq: number, hash: string, now: number): void {
    this.db
      .insert(auditIntents)
      .values({ node, seq, hash, created: now })
      .onConflictDoUpdate({ target: [auditIntents.node, auditIntents.seq], set: { hash, created: now } })
      .run();
  }

  intentCommitted(node: string, seq: number, hash: string): boolean {
    return (
      this.db
        .select({ seq: auditIntents.seq })
        .from(auditIntents)
        .where(and(eq(auditIntents.node, node), eq(auditIntents.seq, seq), eq(auditIntents.hash, hash)))
        .get() !== undefined
    );
  }

  /** Deletes `audit_intents` rows made before `before` (ms): their outcomes are long on disk. */
  pruneIntents(before: number): number {
    return this.db.delete(auditIntents).where(lt(auditIntents.created, before)).run().changes;
  }

  /** The old audit table's rows (empty on a database made after migration 0002). */
  auditRecords(): AuditRecord[] {
    return this.db
      .select()
      .from(audit)
      .orderBy(asc(audit.seq))
      .all()
      .map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
  }

  close(): void {
    this.opened.close();
  }
}
