/**
 * tkdb's storage: the drizzle implementation of TkdbStore (the contract is declared in tokens.ts,
 * where the token service uses it) and the row types. Error contract: every method throws TkdbError("storage") on an unexpected
 * database failure; `transaction` runs its callback in one BEGIN IMMEDIATE transaction and rolls
 * everything back if it throws, so a change, its idempotency record and its audit record commit together.
 */
import { and, asc, desc, eq, inArray, lt } from "drizzle-orm";
import type { Primitives } from "./crypto.js";
import { sha256Hex } from "./crypto.js";
import { type Db, type OpenedDb, openDb } from "./db/open.js";
import { audit, blacklist, idempotency, meta, rootKeys, tokens } from "./db/schema.js";
import { TkdbError } from "./errors.js";
import type { TkdbStore } from "./tokens.js";

export interface RootKeyRow {
  org: string;
  kid: Uint8Array;
  sealedKey: Uint8Array;
  created: number;
}

/** An idempotency record: no cleartext (see crypto.ts). */
export interface IdempotencyRow {
  op: string;
  fingerprint: Uint8Array;
  sealedResult: Uint8Array;
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

export interface AuditInput {
  op: string;
  actor: string;
  subject: string;
  /** Never secrets: ids, nonces, counts. */
  details: Record<string, unknown>;
}

export interface AuditRecord extends AuditInput {
  seq: number;
  ts: number;
  prevHash: string;
  hash: string;
}

export type { TkdbStore };

export const GENESIS_HASH = "0".repeat(64);

/** Unix seconds as SQLite's DATETIME text (`CURRENT_TIMESTAMP`'s form, UTC): compares as text. */
export function sqlDatetime(unixS: number): string {
  return new Date(unixS * 1000).toISOString().slice(0, 19).replace("T", " ");
}

/** The hash of one audit record: SHA-256 over the previous hash and the canonical record. */
export function auditHash(p: Primitives, r: Omit<AuditRecord, "hash">): string {
  return sha256Hex(`${r.prevHash}\n${JSON.stringify([r.seq, r.ts, r.op, r.actor, r.subject, r.details])}`, p);
}

export class DrizzleStore implements TkdbStore {
  private readonly opened: OpenedDb;
  private readonly db: Db;
  constructor(
    path: string,
    private readonly p: Primitives,
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

  rootKeyByOrg(org: string): RootKeyRow | undefined {
    return this.row(this.db.select().from(rootKeys).where(eq(rootKeys.org, org)).get());
  }

  rootKeyByKid(kid: Uint8Array): RootKeyRow | undefined {
    return this.row(
      this.db
        .select()
        .from(rootKeys)
        .where(eq(rootKeys.kid, Buffer.from(kid)))
        .get(),
    );
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

  anyRevoked(nonces: readonly Uint8Array[]): boolean {
    return nonces.some(
      (n) =>
        this.db
          .select({ n: blacklist.nonce })
          .from(blacklist)
          .where(eq(blacklist.nonce, Buffer.from(n)))
          .get() !== undefined,
    );
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

  idempotencyLookup(clientKey: string, rid: string): IdempotencyRow | undefined {
    const r = this.db
      .select({
        op: idempotency.op,
        fingerprint: idempotency.fingerprint,
        sealedResult: idempotency.sealedResult,
      })
      .from(idempotency)
      .where(and(eq(idempotency.clientKey, clientKey), eq(idempotency.rid, rid)))
      .get();
    if (r === undefined) return undefined;
    return {
      op: r.op,
      fingerprint: new Uint8Array(r.fingerprint),
      sealedResult: new Uint8Array(r.sealedResult),
    };
  }

  idempotencyStore(clientKey: string, rid: string, row: IdempotencyRow, expires: number): void {
    this.db
      .insert(idempotency)
      .values({
        clientKey,
        rid,
        op: row.op,
        fingerprint: Buffer.from(row.fingerprint),
        sealedResult: Buffer.from(row.sealedResult),
        expires,
      })
      .run();
  }

  pruneIdempotency(now: number): void {
    this.db.delete(idempotency).where(lt(idempotency.expires, now)).run();
  }

  appendAudit(entry: AuditInput, ts: number): AuditRecord {
    const last = this.db.select().from(audit).orderBy(desc(audit.seq)).limit(1).get();
    const base = {
      seq: (last?.seq ?? 0) + 1,
      ts,
      op: entry.op,
      actor: entry.actor,
      subject: entry.subject,
      details: entry.details,
      prevHash: last?.hash ?? GENESIS_HASH,
    };
    const rec: AuditRecord = { ...base, hash: auditHash(this.p, base) };
    this.db
      .insert(audit)
      .values({ ...rec, details: JSON.stringify(rec.details) })
      .run();
    return rec;
  }

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

/** Walks the chain; returns the first broken seq, or null when every link holds. */
export function verifyAuditChain(p: Primitives, records: readonly AuditRecord[]): number | null {
  let prev = GENESIS_HASH;
  let seq = 0;
  for (const r of records) {
    seq += 1;
    const { hash, ...rest } = r;
    if (r.seq !== seq || r.prevHash !== prev || auditHash(p, rest) !== hash) return r.seq;
    prev = hash;
  }
  return null;
}
