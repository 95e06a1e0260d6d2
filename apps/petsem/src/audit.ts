/**
 * The old audit trail, read only: the `audit` table of databases written before issue 14, each row
 * hash-chained to the previous one (SHA-256(prev hash || record), see crypto.ts). petsem no longer
 * writes it (its append-only triggers remain): the audit trail is now @tkdb/audit's file log
 * (audit-log.ts). These readers let an operator verify and export what an older database holds.
 */
import Database from "better-sqlite3";
import { asc } from "drizzle-orm";
import { drizzle } from "drizzle-orm/better-sqlite3";
import type { PetsemCrypto } from "./crypto.js";
import type { Db } from "./db.js";
import * as t from "./schema.js";

export const ZERO_HASH = new Uint8Array(32);

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

/** One audit row as exported (hashes hex, detail parsed). */
export interface AuditExportRecord {
  readonly seq: number;
  readonly ts: number;
  readonly kind: string;
  readonly op: string;
  readonly org: string;
  readonly app: string;
  readonly requestId: string;
  readonly detail: unknown;
  readonly prevHash: string;
  readonly hash: string;
}

/**
 * Opens `file` read-only (no KEK needed: the audit holds no secret) and returns every audit row in
 * order, and whether the hash chain verifies. For `petsem audit export|verify` on the primary or
 * on a restored copy; it never writes, not even a WAL checkpoint.
 */
export function readAuditFile(
  file: string,
  crypto: PetsemCrypto,
): { records: AuditExportRecord[]; chain: { ok: boolean; count: number; brokenAt?: number } } {
  const sqlite = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const db = drizzle(sqlite, { schema: t }) as unknown as Db;
    const chain = verifyAuditChain(db, crypto);
    const records = db
      .select()
      .from(t.audit)
      .orderBy(asc(t.audit.seq))
      .all()
      .map((r) => ({
        seq: r.seq,
        ts: r.ts,
        kind: r.kind,
        op: r.op,
        org: r.org,
        app: r.app,
        requestId: r.requestId,
        detail: JSON.parse(r.detail) as unknown,
        prevHash: Buffer.from(r.prevHash).toString("hex"),
        hash: Buffer.from(r.hash).toString("hex"),
      }));
    return { records, chain };
  } finally {
    sqlite.close();
  }
}

/**
 * OpenSearch `_bulk` JSON lines, two per record (the action line with `_id` = seq, so a re-export
 * is idempotent, then the document), the same shape as `tkdb audit export`, so both trails land in
 * one index family and join on the discharge nonce (`detail.discharge` here, `details.nonce` there).
 */
export function toOpenSearchBulk(records: readonly AuditExportRecord[], index = "petsem-audit"): string {
  let out = "";
  for (const r of records) {
    out += `${JSON.stringify({ index: { _index: index, _id: String(r.seq) } })}\n`;
    out += `${JSON.stringify({
      "@timestamp": new Date(r.ts).toISOString(),
      seq: r.seq,
      kind: r.kind,
      op: r.op,
      org: r.org,
      app: r.app,
      request_id: r.requestId,
      detail: r.detail,
      prev_hash: r.prevHash,
      hash: r.hash,
    })}\n`;
  }
  return out;
}
