/**
 * One mutating operation = one SQLite transaction holding the change, its idempotency record
 * `(client key, rid)` (when called over Noise) and its audit record: no record, no operation.
 *
 * The idempotency record holds no cleartext (crypto.ts): a keyed fingerprint of op and canonical
 * args, and the result sealed under a KEK subkey with client key, rid and op as associated data.
 * A duplicate (same client key, rid, op and args) gets the stored result; the same rid with another
 * op or other args is `idempotency_mismatch` and changes nothing.
 */
import {
  bytesEqual,
  type IdempotencyKeys,
  openResult,
  type Primitives,
  requestFingerprint,
  sealResult,
} from "./crypto.js";
import { TkdbError } from "./errors.js";
import type { AuditInput } from "./store.js";
import type { TkdbStore } from "./tokens.js";

export const REPLAY_TTL_MS = 24 * 3600 * 1000;

/** The ops that keep idempotency records (discharge keeps none: a retry gets a fresh discharge). */
export const IDEMPOTENT_OPS = ["org_create", "mint", "revoke", "strip"] as const;

export interface MutationContext {
  store: TkdbStore;
  op: string;
  /** Who asked: the Noise client key (base64url) or "cli:<user>". */
  actor: string;
  /** Request id and args for idempotency; undefined for local (CLI) calls. */
  idempotency?: { rid: string; args: Record<string, unknown>; keys: IdempotencyKeys; p: Primitives };
  now: number;
}

export function runMutation<R>(ctx: MutationContext, fn: () => [R, AuditInput]): R {
  const { store, op, actor, idempotency: idem, now } = ctx;
  return store.transaction(() => {
    let fp: Uint8Array | undefined;
    if (idem !== undefined) {
      fp = requestFingerprint(idem.p, idem.keys, actor, idem.rid, op, idem.args);
      const stored = store.idempotencyLookup(actor, idem.rid);
      if (stored !== undefined) {
        if (stored.op !== op || !bytesEqual(stored.fingerprint, fp))
          throw new TkdbError(
            "idempotency_mismatch",
            "this rid was already used for a different request (another op or other arguments)",
          );
        return JSON.parse(openResult(idem.p, idem.keys, actor, idem.rid, op, stored.sealedResult)) as R;
      }
    }
    const [result, audit] = fn();
    if (idem !== undefined && fp !== undefined) {
      const sealedResult = sealResult(idem.p, idem.keys, actor, idem.rid, op, JSON.stringify(result));
      store.idempotencyStore(actor, idem.rid, { op, fingerprint: fp, sealedResult }, now + REPLAY_TTL_MS);
    }
    store.appendAudit({ ...audit, actor }, now);
    return result;
  });
}

/** An audited operation with no idempotency record (discharge): change (if any) and audit commit together. */
export function runAudited<R>(ctx: Omit<MutationContext, "idempotency">, fn: () => [R, AuditInput]): R {
  const { store, actor, now } = ctx;
  return store.transaction(() => {
    const [result, audit] = fn();
    store.appendAudit({ ...audit, actor }, now);
    return result;
  });
}
