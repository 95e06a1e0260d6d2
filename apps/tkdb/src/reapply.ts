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
 * database. Not covered (docs/ARCHITECTURE.md): a revocation made on another node (the old primary
 * before a failover) is in that node's log, not this one's; an intent reconciled as `ok` after a
 * crash carries no nonce list; a nonce logged only as `sha256:` (a proof nonce) cannot be re-added.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { type AuditLine, MAX_NONCES, verify } from "@tkdb/audit";
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
type Wanted = Map<string, number>;

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
async function collect(dir: string, w: Wanted): Promise<void> {
  const r = await verify(dir, {
    live: true,
    onLine: (line) => {
      if (!revokedBy(line)) return;
      if (line.nonces !== undefined)
        line.nonces.forEach((n, i) => {
          want(w, n, line.required_until?.[i] ?? 0);
        });
      else if (line.nonce !== undefined && line.op === "revoke") want(w, line.nonce, UNKNOWN);
    },
  });
  if (!r.ok)
    throw new TkdbError(
      "corrupt",
      `the audit log in ${dir} does not verify (${r.failure}: ${r.reason}); tkdb will not serve without re-applying the revocations it holds: run \`tkdb audit verify\` and restore the log`,
    );
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
  const wanted: Wanted = new Map();
  for (const dir of dirs) await collect(dir, wanted);
  const oldest = Math.floor(nowMs / 1000) - PRUNE_MARGIN_S;
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
  for (let i = 0; i < missing.length; i += BATCH) {
    const batch = missing.slice(i, i + BATCH);
    await runMutation({ store, audit, op: REAPPLY_OP, actor: "system", now: nowMs }, () => {
      for (const m of batch) store.revoke(m.bytes, m.until === 0 ? null : m.until);
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
