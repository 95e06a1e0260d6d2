/**
 * The RPC handlers' audit wrappers (what each op logs is in audit.ts, how in mutate.ts):
 *
 * - `mutationOp`: durable intent, transaction with idempotency record, outcome (runMutation).
 * - `dischargeOp`: built, durable intent, outcome, reply (runDischarge); zero database writes.
 *   Outcomes are chained before the reply and reach the disk with the next group commit or
 *   within a few ms (audit.ts), so the reply waits for one fdatasync.
 * - `verifyOp`: one buffered event per call, ok or refused.
 * - `feedOp`: each poll counted into the log's per-minute counter lines.
 * - `refusalsLogged`: the outermost wrapper; a refusal no inner wrapper logged (a signing client
 *   calling an op it may not, a write on a replica, a stale replica) becomes one buffered event.
 *   If the log cannot even take that, the original refusal still goes to the client.
 */
import { type IdempotencyRecords, noiseActor } from "@tkdb/audit";
import type { NoiseOpContext } from "@tkdb/noise";
import { auditDirOf, auditNodeName, isLogged, markLogged, openAudit, type TkdbAudit } from "./audit.js";
import { type IdempotencyKeys, native } from "./crypto.js";
import type { TkdbConfig } from "./env.js";
import { isPrimary } from "./litefs.js";
import { IDEMPOTENCY_TTL_MS, idempotencyRecords, runDischarge, runMutation } from "./mutate.js";
import { reapplyRevocations, revocationLogDirs } from "./reapply.js";
import type { AuditInput } from "./store.js";
import type { TkdbStore } from "./tokens.js";

type OpFn = (ctx: NoiseOpContext) => Promise<unknown>;
type Args = Record<string, unknown>;

export interface AuditDeps {
  audit: TkdbAudit;
  idempotency: IdempotencyRecords;
  store: TkdbStore;
  now?: () => number;
}

/** The audit actor of a Noise caller: its static public key. */
export function actorOf(ctx: NoiseOpContext): string {
  return noiseActor(ctx.clientKey);
}

/** A mutation over Noise: idempotent by (client key, rid), intent and outcome in the log. */
export function mutationOp(d: AuditDeps, op: string, fn: (args: Args) => [unknown, AuditInput]): OpFn {
  return (ctx) =>
    runMutation(
      {
        store: d.store,
        audit: d.audit,
        op,
        actor: actorOf(ctx),
        idempotency: { records: d.idempotency, rid: ctx.rid, args: ctx.args },
        now: (d.now ?? Date.now)(),
      },
      () => fn(ctx.args),
    );
}

export function dischargeOp(d: AuditDeps, fn: (args: Args) => [unknown, AuditInput]): OpFn {
  return (ctx) => runDischarge(d.audit, actorOf(ctx), () => fn(ctx.args));
}

export function verifyOp(d: AuditDeps, op: string, fn: (args: Args) => [unknown, AuditInput]): OpFn {
  return async (ctx) => {
    const actor = actorOf(ctx);
    let out: [unknown, AuditInput];
    try {
      out = fn(ctx.args);
    } catch (err) {
      d.audit.event(op, actor, { err });
      throw markLogged(err);
    }
    d.audit.event(op, actor, { ids: out[1] });
    return out[0];
  };
}

export function feedOp(d: AuditDeps, op: string, fn: (args: Args) => unknown): OpFn {
  return async (ctx) => {
    const actor = actorOf(ctx);
    let out: unknown;
    try {
      out = fn(ctx.args);
    } catch (err) {
      d.audit.count(op, actor, err);
      throw markLogged(err);
    }
    d.audit.count(op, actor);
    return out;
  };
}

/** `counted`: the op is a feed poll, whose refusals are counted like its answers. */
export function refusalsLogged(d: AuditDeps, op: string, f: OpFn, counted = false): OpFn {
  return async (ctx) => {
    try {
      return await f(ctx);
    } catch (err) {
      if (!isLogged(err)) {
        try {
          if (counted) d.audit.count(op, actorOf(ctx), err);
          else d.audit.event(op, actorOf(ctx), { err });
        } catch {
          // The log is broken; the refusal goes out anyway (and nothing happened).
        }
      }
      throw err;
    }
  };
}

/** The node's auditing, as startTkdb runs it: the log, the records, and the pruning timer. */
export interface Auditing {
  deps: AuditDeps;
  close(): Promise<void>;
}

const PRUNE_EVERY_MS = 60_000;

/**
 * Opens this node's log (TKDB_AUDIT_DIR, node TKDB_AUDIT_NODE; a crash's open intents reconciled
 * and, on the primary, the log's revocations missing from the database re-applied, before anything
 * is served), the idempotency records, and prunes expired records and old
 * `audit_intents` rows at start and every minute, only on the writable primary (replicas receive
 * the deletions by replication).
 */
export async function startAuditing(
  store: TkdbStore,
  keys: IdempotencyKeys,
  config: Pick<TkdbConfig, "dbPath" | "auditDir" | "auditNode" | "replica" | "litefsDir">,
  replica: boolean,
  now: () => number = Date.now,
): Promise<Auditing> {
  const writable = () => !replica && config.replica !== true && isPrimary(config.litefsDir);
  const dir = auditDirOf(config);
  const audit = await openAudit(dir, auditNodeName(config.auditNode), store);
  // A restored database may lack revocations the log holds: put them back before serving. Only
  // the writable primary can; replicas follow its database (reapply.ts).
  // Its outcome is made durable before serving (a start is not on a reply's critical path).
  if (writable())
    await reapplyRevocations(store, audit, revocationLogDirs(dir), now())
      .then(() => audit.log.flush())
      .catch(async (err: unknown) => {
        await audit.close();
        throw err;
      });
  const idempotency = idempotencyRecords(store, native, keys, writable, now);
  const prune = () => {
    if (!writable()) return;
    try {
      idempotency.prune();
      store.pruneIntents(now() - IDEMPOTENCY_TTL_MS);
    } catch {
      // Busy or read-only for a moment: the next round prunes (lookups ignore expired records).
    }
  };
  prune();
  const timer = setInterval(prune, PRUNE_EVERY_MS);
  timer.unref();
  return {
    deps: { audit, idempotency, store, now },
    async close() {
      clearInterval(timer);
      await audit.close();
    },
  };
}
