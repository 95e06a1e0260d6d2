/** Audit trail tools: chain verification and export as OpenSearch `_bulk` JSON lines. */
import type { AuditRecord } from "./store.js";

/** Two lines per record: the action line (index + _id = seq, so re-exports are idempotent) and the document. */
export function toOpenSearchBulk(records: readonly AuditRecord[], index = "tkdb-audit"): string {
  let out = "";
  for (const r of records) {
    out += `${JSON.stringify({ index: { _index: index, _id: String(r.seq) } })}\n`;
    out += `${JSON.stringify({
      "@timestamp": new Date(r.ts).toISOString(),
      seq: r.seq,
      op: r.op,
      actor: r.actor,
      subject: r.subject,
      details: r.details,
      prev_hash: r.prevHash,
      hash: r.hash,
    })}\n`;
  }
  return out;
}
