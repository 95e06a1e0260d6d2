/**
 * How an audited op runs (audit.ts says what is logged and why).
 *
 * Mutation (org_create, mint, revoke, strip): a durable intent in the node's audit log, then ONE
 * SQLite transaction holding the idempotency lookup, the change, the idempotency record and the
 * intent's `audit_intents` row, then the outcome, chained but not awaited on disk (audit.ts): the
 * reply waits for one fdatasync, the intent's. If the log cannot take the intent the mutation does
 * not run (`unavailable`).
 *
 * Idempotency records (@tkdb/audit's IdempotencyRecords, mutations over Noise only) keep the
 * sealing of the security work: a keyed fingerprint of op and canonical arguments (HMAC under the
 * KEK's fingerprint subkey) and the result sealed under the KEK's seal subkey with client key, rid
 * and op as associated data; never a token in the clear. A duplicate (same client key, rid, op and
 * args) gets the stored result; the same rid with another op or other args is
 * `idempotency_mismatch` and changes nothing. A client with IDEMPOTENCY_MAX_PER_CLIENT live
 * records is refused with `unavailable` before the effect, never evicted.
 *
 * Discharge: the bundle checked and the discharge built (no effect yet), a durable intent naming
 * it, the outcome chained (not awaited on disk; a restart reconciles a lost one as
 * `outcome_unknown`), then the reply. No database write at all.
 */
import { type IdempotencyCrypto, IdempotencyRecords, isAuditError } from "@tkdb/audit";
import { ServiceError } from "@tkdb/service";
import { auditRid, markLogged, type TkdbAudit } from "./audit.js";
import {
  type IdempotencyKeys,
  idempotencyCrypto as keyringIdempotencyCrypto,
  type Primitives,
} from "./crypto.js";
import { TkdbError } from "./errors.js";
import type { AuditInput } from "./store.js";
import type { TkdbStore } from "./tokens.js";

/**
 * How long an idempotency record lives: the clients' maximum retry horizon, with a margin.
 * @tkdb/client (packages/client/src/retry.ts, rpc.ts) keeps one rid across at most 3 attempts per
 * endpoint, each bounded by its 5 s timeout plus, in session mode, one re-handshake and resend
 * (another 5 s), with backoff capped at 2 s: at most 3 × (5 + 5 + 2) = 36 s per endpoint, under
 * 2 minutes over three regions. @tkdb/noise refuses a request stamped more than 60 s from the
 * server's clock and remembers handshakes for 2 × 60 s, so no message older than that is ever
 * processed. 10 minutes covers every retry five times over; a record (a sealed token) stays on
 * disk for minutes, not the day it used to.
 */
export const IDEMPOTENCY_TTL_MS = 10 * 60 * 1000;

/** Live records per client key: 16 mutations a second sustained over the TTL. */
export const IDEMPOTENCY_MAX_PER_CLIENT = 10_000;

/** The ops that keep idempotency records (discharge keeps none: a retry gets a fresh discharge). */
export const IDEMPOTENT_OPS = ["org_create", "mint", "revoke", "strip"] as const;

/**
 * The KEK's idempotency sealing (crypto.ts `idempotencyCrypto`: the shared keyring's
 * `idempotency-fingerprint` and `idempotency-result` subkeys, format 0x02 with the KEK's id, so
 * `tkdb kek rotate` rewraps the results) as @tkdb/audit's record crypto.
 */
export function idempotencyCrypto(_p: Primitives, keys: IdempotencyKeys): IdempotencyCrypto {
  return keyringIdempotencyCrypto(keys);
}

/** The records over the store's database; pruning only where `isPrimary` says so. */
export function idempotencyRecords(
  store: TkdbStore,
  p: Primitives,
  keys: IdempotencyKeys,
  isPrimary: () => boolean,
  clock: () => number = Date.now,
): IdempotencyRecords {
  return new IdempotencyRecords(store.sqlite, {
    crypto: idempotencyCrypto(p, keys),
    ttlMs: IDEMPOTENCY_TTL_MS,
    maxPerClient: IDEMPOTENCY_MAX_PER_CLIENT,
    clock,
    isPrimary,
  });
}

export interface MutationContext {
  store: TkdbStore;
  audit: TkdbAudit;
  op: string;
  /** Who asked: `noise:<client key>` or `cli:<user>` (the idempotency client key too). */
  actor: string;
  /** Ids known before the effect (the org of the request, say), on the intent. */
  intentIds?: AuditInput;
  /** Request id and args for idempotency; undefined for local (CLI) calls. */
  idempotency?: { records: IdempotencyRecords; rid: string; args: Record<string, unknown> };
  now: number;
}

/** @tkdb/audit's refusals under tkdb's codes (a record that does not open is `corrupt`). */
function fromAudit(e: unknown): unknown {
  if (!isAuditError(e)) return e;
  if (e.code === "idempotency_mismatch")
    return new TkdbError("idempotency_mismatch", e.message, { cause: e });
  if (e.code === "integrity")
    return new TkdbError("corrupt", "a stored idempotency record does not open with this KEK", { cause: e });
  if (e.code === "invalid_request") return new TkdbError("bad_request", e.message, { cause: e });
  return new ServiceError(e.code === "unavailable" ? "unavailable" : "internal", e.message, { cause: e });
}

/** Intent, transaction (idempotency, change, intent row), outcome: see the file comment. */
export async function runMutation<R>(ctx: MutationContext, fn: () => [R, AuditInput]): Promise<R> {
  const { store, audit, op, actor, idempotency: idem, now } = ctx;
  const rid = idem === undefined ? {} : { rid: auditRid(idem.rid) };
  const intent = await audit.intent(op, actor, { ...rid, ...ctx.intentIds });
  const seq = intent.seq;
  let outcome: { result: R; ids: AuditInput };
  try {
    outcome = store.transaction(() => {
      const key = idem === undefined ? undefined : { ...idem, rid: auditRid(idem.rid) };
      const found = key === undefined ? undefined : key.records.lookup<R>(actor, key.rid, op, key.args);
      if (found?.hit === true) return { result: found.result, ids: {} };
      const [result, ids] = fn();
      if (key !== undefined && found !== undefined && !found.hit)
        key.records.store(actor, key.rid, op, found, result);
      store.recordIntent(audit.node, seq, intent.hash, now);
      return { result, ids };
    });
  } catch (e) {
    const err = fromAudit(e);
    // Nothing committed: if this append fails or is lost, the open intent reconciles as "aborted".
    try {
      audit.outcome(seq, op, actor, { err });
    } catch {
      // the log is broken: the restart reconciles
    }
    throw markLogged(err);
  }
  // Committed: a failed or lost outcome append leaves the intent open, and the next start
  // reconciles it as "ok" from its audit_intents row, so the caller still gets what was done.
  try {
    // A revocation's outcome names the nonces a restore re-applies: durable before the reply.
    if ("nonces" in outcome.ids) await audit.outcomeDurable(seq, op, actor, outcome.ids);
    else audit.outcome(seq, op, actor, { ids: outcome.ids });
  } catch {
    // the log is broken: the restart reconciles
  }
  return outcome.result;
}

/**
 * Discharge: `fn` checks and builds (no effect), then a durable intent with its ids and the
 * outcome (chained; a log that refuses it refuses the discharge), then the result goes back. A
 * refusal is one buffered event.
 */
export async function runDischarge<R>(
  audit: TkdbAudit,
  actor: string,
  fn: () => [R, AuditInput],
): Promise<R> {
  let built: [R, AuditInput];
  try {
    built = fn();
  } catch (err) {
    audit.event("discharge", actor, { err });
    throw markLogged(err);
  }
  const [result, ids] = built;
  const { seq } = await audit.intent("discharge", actor, ids);
  audit.outcome(seq, "discharge", actor, { ids });
  return result;
}
