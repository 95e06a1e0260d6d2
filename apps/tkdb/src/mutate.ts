/**
 * One mutating operation = one SQLite transaction holding the change, its replay record
 * `(client key, rid)` (when called over Noise) and its audit record: no record, no operation.
 */
import { TkdbError } from "./errors.js";
import type { AuditInput, TkdbStore } from "./store.js";

export const REPLAY_TTL_MS = 24 * 3600 * 1000;

export interface MutationContext {
  store: TkdbStore;
  op: string;
  /** Who asked: the Noise client key (base64url) or "cli:<user>". */
  actor: string;
  /** Request id for replay protection; undefined for local (CLI) calls. */
  rid?: string;
  now: number;
}

export function runMutation<R>(ctx: MutationContext, fn: () => [R, AuditInput]): R {
  const { store, op, actor, rid, now } = ctx;
  return store.transaction(() => {
    if (rid !== undefined) {
      const stored = store.replayLookup(actor, rid);
      if (stored !== undefined) {
        if (stored.op !== op) throw new TkdbError("bad_request", "rid already used for another operation");
        return JSON.parse(stored.result) as R;
      }
    }
    const [result, audit] = fn();
    if (rid !== undefined) store.replayStore(actor, rid, op, JSON.stringify(result), now + REPLAY_TTL_MS);
    store.appendAudit({ ...audit, actor }, now);
    return result;
  });
}
