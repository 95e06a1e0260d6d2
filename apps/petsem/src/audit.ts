/**
 * The audit trail: where records go (`AuditSink`, declared with its error contract) and the default
 * sink, the append-only `audit` table with each row hash-chained to the previous one
 * (SHA-256(prev hash || record), see crypto.ts). Records hold names, counts, versions and error
 * codes, never values.
 */
import { asc, desc } from "drizzle-orm";
import type { PetsemCrypto } from "./crypto.js";
import type { Db } from "./db.js";
import * as t from "./schema.js";

export type AuditOp = "set" | "rollback" | "resolve";

export interface AuditEntry {
  readonly kind: "intent" | "outcome";
  readonly op: AuditOp;
  readonly org: string;
  readonly app: string;
  readonly requestId: string;
  /** never values; names, counts, versions, error codes only */
  readonly detail: Readonly<Record<string, string | number | boolean | readonly string[]>>;
}

/**
 * Where audit records go. `append` runs inside the store's transaction for writes; throwing aborts
 * the operation (fail closed). Declared here, where it is used (STYLE.md habit 13).
 */
export interface AuditSink {
  append(entry: AuditEntry, ts: number): void;
}

export const ZERO_HASH = new Uint8Array(32);

/** The default sink: the `audit` table, each row hash-chained to the previous one. */
export class TableAuditSink implements AuditSink {
  constructor(
    private readonly db: Db,
    private readonly crypto: PetsemCrypto,
  ) {}

  append(e: AuditEntry, ts: number): void {
    const last = this.db
      .select({ hash: t.audit.hash })
      .from(t.audit)
      .orderBy(desc(t.audit.seq))
      .limit(1)
      .get();
    const prev = last ? new Uint8Array(last.hash) : ZERO_HASH;
    const detail = JSON.stringify(e.detail);
    const hash = this.crypto.chainHash(prev, auditRecordText(ts, e, detail));
    this.db
      .insert(t.audit)
      .values({
        ts,
        kind: e.kind,
        op: e.op,
        org: e.org,
        app: e.app,
        requestId: e.requestId,
        detail,
        prevHash: Buffer.from(prev),
        hash: Buffer.from(hash),
      })
      .run();
  }
}

export function auditRecordText(
  ts: number,
  e: { kind: string; op: string; org: string; app: string; requestId: string },
  detail: string,
): string {
  return JSON.stringify([ts, e.kind, e.op, e.org, e.app, e.requestId, detail]);
}

/** Recomputes the hash chain; `brokenAt` is the first seq that does not verify. */
export function verifyAuditChain(
  db: Db,
  crypto: PetsemCrypto,
): { ok: boolean; count: number; brokenAt?: number } {
  let prev: Uint8Array = ZERO_HASH;
  let count = 0;
  for (const r of db.select().from(t.audit).orderBy(asc(t.audit.seq)).all()) {
    const want = crypto.chainHash(prev, auditRecordText(r.ts, r, r.detail));
    if (!crypto.equal(new Uint8Array(r.prevHash), prev) || !crypto.equal(new Uint8Array(r.hash), want)) {
      return { ok: false, count, brokenAt: r.seq };
    }
    prev = new Uint8Array(r.hash);
    count++;
  }
  return { ok: true, count };
}
