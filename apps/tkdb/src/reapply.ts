/**
 * Revocations survive restores (issue 14 item 2): before a writable primary serves, it puts back
 * on the blacklist every revocation its audit log says happened and its database does not hold.
 *
 * A database restored from a backup (`tkdb backup restore`, a Litestream point-in-time restore, a
 * `litefs export`) is a copy from before some revocations; the node's audit log is not restored
 * with it (it lives on the volume, outside the database and the LiteFS mount) and still holds
 * them: each `revoke` outcome with outcome `ok` names every nonce it blacklisted (the revoked one
 * and the derived service tokens) with its `required_until` (rpc/revoke.ts). tkdb cannot tell a
 * restore from a plain restart, so this runs at every start of a writable primary:
 *
 * 1. Verify the node's log and the local CLI's log (`<audit dir>/cli`: `tkdb token revoke` run on
 *    the machine) end to end, collecting the revocations from the verified lines. A log that does
 *    not verify stops the start (`corrupt`): serving without the re-apply could serve revoked
 *    tokens, and the operator has to look (`tkdb audit verify`).
 * 2. Keep the nonces whose row is still required: `required_until` 0 (no expiry, kept forever) or
 *    not older than the pruning margin (the same 24 h `pruneRevocations` keeps). A row past that
 *    would be pruned at once anyway, and its token no longer verifies.
 * 3. Those missing from the blacklist go back in ONE mutation (per 100 000 nonces) (`runMutation`: durable intent, one
 *    transaction, durable outcome), op `revoke_reapplied`, actor `system`, whose outcome names them
 *    with `count`, `nonces` and `required_until` (so it is itself a source for a later re-apply).
 *    The new rows take new rowids: followers see them in the feed; the start also mints a new feed
 *    epoch (replication.ts), so followers re-read from the beginning anyway.
 *
 * Only the writable primary does this; a read-only replica cannot write and follows the primary's
 * database. A revocation made on another node (the old primary before a failover) is in that
 * node's log, not this one's: the operator re-applies it with `tkdb revocations reapply --from
 * <its audit dir | an export>` (cli/revocations-reapply.ts, the same collection and application;
 * infra/FAILOVER.md). A promotion re-applies from the node's own log through a restart
 * (replication.ts). Not covered (docs/ARCHITECTURE.md): an intent reconciled as `ok` after a crash
 * carries no nonce list; a nonce logged only as `sha256:` (a proof nonce) cannot be re-added.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { type AuditLine, canonicalJson, MAX_NONCES, parseLine, verify, verifyShipped } from "@tkdb/audit";
import { base64Decode } from "@tkdb/macaroon";
import type { TkdbAudit } from "./audit.js";
import { TkdbError } from "./errors.js";
import { runMutation } from "./mutate.js";
import type { TkdbStore } from "./tokens.js";

/** The op of the re-apply's intent and outcome. */
export const REAPPLY_OP = "revoke_reapplied";

/** As `TokenService.pruneRevocations`: a row is kept this long past its `required_until`. */
export const PRUNE_MARGIN_S = 24 * 3600;

/** The most nonces one re-apply (one transaction, one outcome line) names. */
const BATCH = MAX_NONCES;

export interface ReapplyResult {
  /** Nonces put back on the blacklist. */
  reapplied: number;
  /** Distinct nonces the logs name as revoked and still required. */
  required: number;
  /** Nonces named only by hash (`sha256:`), which cannot be put back. */
  unnamed: number;
}

/** The logs a node's revocations are in: its own, and its local CLI's (`<dir>/cli`). */
export function revocationLogDirs(auditDir: string): string[] {
  const cli = join(auditDir, "cli");
  return existsSync(cli) ? [auditDir, cli] : [auditDir];
}

/** A line that blacklisted nonces: a revoke (or an earlier re-apply) that committed. */
function revokedBy(line: AuditLine): boolean {
  return line.kind === "outcome" && line.outcome === "ok" && (line.op === "revoke" || line.op === REAPPLY_OP);
}

/**
 * nonce → required_until (unix seconds, 0 = none, UNKNOWN = not logged); a nonce named twice
 * keeps the later one.
 */
export type Wanted = Map<string, number>;

const UNKNOWN = -1;

function want(w: Wanted, nonce: string, until: number): void {
  const had = w.get(nonce);
  if (had === undefined || had === UNKNOWN) w.set(nonce, until);
  else if (until !== UNKNOWN) w.set(nonce, had === 0 || until === 0 ? 0 : Math.max(had, until));
}

/**
 * The revocations named in a verified log. A `revoke` line written before `nonces` existed names
 * only its own nonce (not the derived ones) and no required_until: it counts, with the expiry the
 * database's mint record gives (none: kept forever).
 */
function take(w: Wanted, line: AuditLine): void {
  if (!revokedBy(line)) return;
  if (line.nonces !== undefined)
    line.nonces.forEach((n, i) => {
      want(w, n, line.required_until?.[i] ?? 0);
    });
  else if (line.nonce !== undefined && line.op === "revoke") want(w, line.nonce, UNKNOWN);
}

async function collect(dir: string, w: Wanted): Promise<void> {
  const r = await verify(dir, { live: true, onLine: (line) => take(w, line) });
  if (!r.ok)
    throw new TkdbError(
      "corrupt",
      `the audit log in ${dir} does not verify (${r.failure}: ${r.reason}); tkdb will not serve without re-applying the revocations it holds: run \`tkdb audit verify\` and restore the log`,
    );
}

/**
 * The revocations an export holds (`tkdb audit export` or documents read back from OpenSearch:
 * `_bulk` NDJSON, or one document per line). The documents are verified as shipped first
 * (@tkdb/audit `verifyShipped`: per node, the chain from `firstSeq` without gap or fork, every
 * checkpoint naming a line that is there), so a hand-edited or truncated export is refused
 * (`corrupt`) rather than half-applied. `firstSeq`: the seq the export starts at (default 1).
 */
export function collectExport(text: string, w: Wanted, firstSeq = 1): void {
  const docs: Record<string, unknown>[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    if (raw.trim() === "") continue;
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch {
      throw new TkdbError("corrupt", `the export's line ${i + 1} is not JSON`);
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc))
      throw new TkdbError("corrupt", `the export's line ${i + 1} is not a document`);
    const keys = Object.keys(doc);
    // A `_bulk` action line ({"create": {...}} or {"index": {...}}) precedes each document.
    if (keys.length === 1 && (keys[0] === "create" || keys[0] === "index")) continue;
    docs.push(doc as Record<string, unknown>);
  }
  const r = verifyShipped(docs, { firstSeq });
  if (!r.ok)
    throw new TkdbError(
      "corrupt",
      `the export does not verify (${r.failure}: ${r.reason}${r.node === undefined ? "" : `, node ${r.node}`}); nothing was re-applied`,
    );
  for (const doc of docs) {
    const { "@timestamp": _ts, event_id: _id, ...line } = doc;
    const p = parseLine(canonicalJson(line));
    if (p.ok) take(w, p.line);
  }
}

/** A node's audit log (a directory) or an export of one (its text). */
export type ReapplySource = { dir: string } | { exportText: string; firstSeq?: number };

/** The revocations in a set of logs or exports, each verified (see collect, collectExport). */
export async function collectSources(sources: readonly ReapplySource[]): Promise<Wanted> {
  const w: Wanted = new Map();
  for (const s of sources)
    if ("dir" in s) await collect(s.dir, w);
    else collectExport(s.exportText, w, s.firstSeq);
  return w;
}

/** Who re-applies: the start (`system`, the node's log) or an operator (`cli:<user>`). */
export interface ApplyOptions {
  actor: string;
  nowMs: number;
  /** Count only: write nothing (no audit line either). */
  dryRun?: boolean;
}

/**
 * Puts back on the blacklist the wanted nonces the database lacks (see the file comment): one
 * mutation per BATCH nonces, op `revoke_reapplied`, whose outcome names them. Idempotent: a
 * nonce already on the blacklist is counted as required and left alone.
 */
export async function applyRevocations(
  store: TkdbStore,
  audit: TkdbAudit,
  wanted: Wanted,
  o: ApplyOptions,
): Promise<ReapplyResult> {
  const oldest = Math.floor(o.nowMs / 1000) - PRUNE_MARGIN_S;
  const missing: { nonce: string; bytes: Uint8Array; until: number }[] = [];
  let required = 0;
  let unnamed = 0;
  for (const [nonce, logged] of wanted) {
    if (nonce.startsWith("sha256:")) {
      if (logged === 0 || logged >= oldest) unnamed++;
      continue;
    }
    const bytes = base64Decode(nonce, "nonce");
    const until = logged === UNKNOWN ? (store.tokenByNonce(bytes)?.expires ?? 0) : logged;
    if (until !== 0 && until < oldest) continue;
    required++;
    if (!store.anyRevoked([bytes])) missing.push({ nonce, bytes, until });
  }
  if (o.dryRun === true) return { reapplied: missing.length, required, unnamed };
  for (let i = 0; i < missing.length; i += BATCH) {
    const batch = missing.slice(i, i + BATCH);
    await runMutation({ store, audit, op: REAPPLY_OP, actor: o.actor, now: o.nowMs }, () => {
      // Checked again inside the transaction: a concurrent revoke may have added one meanwhile.
      const add = batch.filter((m) => !store.anyRevoked([m.bytes]));
      for (const m of add) store.revoke(m.bytes, m.until === 0 ? null : m.until);
      return [
        undefined,
        {
          count: batch.length,
          nonces: batch.map((m) => m.nonce),
          required_until: batch.map((m) => m.until),
        },
      ];
    });
  }
  return { reapplied: missing.length, required, unnamed };
}

/**
 * Re-applies, before the node serves, the revocations its audit logs hold and its database lacks
 * (see the file comment). Call it on the writable primary only, after `openAudit`.
 */
export async function reapplyRevocations(
  store: TkdbStore,
  audit: TkdbAudit,
  dirs: readonly string[],
  nowMs: number,
): Promise<ReapplyResult> {
  const wanted = await collectSources(dirs.map((dir) => ({ dir })));
  return applyRevocations(store, audit, wanted, { actor: "system", nowMs });
}
