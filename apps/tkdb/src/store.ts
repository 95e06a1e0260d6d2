/**
 * Storage contract of tkdb (declared here, where the service uses it) and its drizzle
 * implementation. Error contract: every method throws TkdbError("storage") on an unexpected
 * database failure; `transaction` runs its callback in one BEGIN IMMEDIATE transaction and rolls
 * everything back if it throws, so a change, its replay record and its audit record commit together.
 */
import { and, asc, desc, eq, lt } from "drizzle-orm";
import type { Primitives } from "./crypto.js";
import { sha256Hex } from "./crypto.js";
import { type Db, type OpenedDb, openDb } from "./db/open.js";
import { audit, blacklist, meta, replay, rootKeys } from "./db/schema.js";
import { TkdbError } from "./errors.js";

export interface RootKeyRow {
  org: string;
  kid: Uint8Array;
  sealedKey: Uint8Array;
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

export interface TkdbStore {
  transaction<T>(fn: () => T): T;
  getMeta(name: string): Uint8Array | undefined;
  setMeta(name: string, value: Uint8Array): void;
  rootKeyByOrg(org: string): RootKeyRow | undefined;
  rootKeyByKid(kid: Uint8Array): RootKeyRow | undefined;
  insertRootKey(row: RootKeyRow): void;
  /** True if any of these nonces (encoded bytes) is blacklisted. */
  anyRevoked(nonces: readonly Uint8Array[]): boolean;
  /** Adds a nonce; false if it was already there. */
  revoke(nonce: Uint8Array): boolean;
  /** Nonces with rowid > cursor, oldest first. */
  revocationsSince(cursor: number, limit: number): { nonces: Uint8Array[]; cursor: number };
  replayLookup(clientKey: string, rid: string): { op: string; result: string } | undefined;
  replayStore(clientKey: string, rid: string, op: string, result: string, expires: number): void;
  pruneReplay(now: number): void;
  appendAudit(entry: AuditInput, ts: number): AuditRecord;
  auditRecords(): AuditRecord[];
  close(): void;
}

export const GENESIS_HASH = "0".repeat(64);

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

  revoke(nonce: Uint8Array): boolean {
    const r = this.db
      .insert(blacklist)
      .values({ nonce: Buffer.from(nonce) })
      .onConflictDoNothing()
      .run();
    return r.changes === 1;
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

  replayLookup(clientKey: string, rid: string): { op: string; result: string } | undefined {
    return this.db
      .select({ op: replay.op, result: replay.result })
      .from(replay)
      .where(and(eq(replay.clientKey, clientKey), eq(replay.rid, rid)))
      .get();
  }

  replayStore(clientKey: string, rid: string, op: string, result: string, expires: number): void {
    this.db.insert(replay).values({ clientKey, rid, op, result, expires }).run();
  }

  pruneReplay(now: number): void {
    this.db.delete(replay).where(lt(replay.expires, now)).run();
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
