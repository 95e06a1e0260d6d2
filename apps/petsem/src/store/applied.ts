/**
 * Which audit intents committed (issue 14 item 1: "a restart reconciles intents without outcomes").
 * A mutation writes `(node, intent seq)` into `audit_applied` in its own write transaction, so after
 * a crash between the commit and the outcome event, the reconciler (audit.ts) finds the row and
 * records the outcome as `ok`; no row means the effect never committed (`aborted`).
 *
 * Rows are only needed until the outcome is on disk; they are pruned an hour after their write (an
 * outcome follows its commit within milliseconds, and a log that failed refuses every later intent,
 * so nothing is pruned while a reconcile is still owed) and all of a node's rows after it reconciled.
 */
import type { StoreCore } from "./core.js";

/** An intent as the audit log numbered it. */
export interface AppliedIntent {
  readonly node: string;
  readonly seq: number;
}

const KEEP_MS = 3_600_000;

/** Inside the mutation's transaction: the intent's effect is committing. */
export function recordApplied(
  core: Pick<StoreCore, "sqlite" | "now">,
  intent: AppliedIntent,
  op: string,
): void {
  const now = core.now();
  core.sqlite
    .prepare("INSERT OR IGNORE INTO audit_applied (node, intent_seq, op, created_at) VALUES (?, ?, ?, ?)")
    .run(intent.node, intent.seq, op, now);
  core.sqlite.prepare("DELETE FROM audit_applied WHERE created_at < ?").run(now - KEEP_MS);
}

/** Whether the intent's effect committed. */
export function wasApplied(core: Pick<StoreCore, "sqlite">, intent: AppliedIntent): boolean {
  return (
    core.sqlite
      .prepare("SELECT 1 FROM audit_applied WHERE node = ? AND intent_seq = ?")
      .get(intent.node, intent.seq) !== undefined
  );
}

/** After a reconcile: this node owes no outcome any more. */
export function forgetApplied(core: Pick<StoreCore, "sqlite">, node: string): void {
  core.sqlite.prepare("DELETE FROM audit_applied WHERE node = ?").run(node);
}
