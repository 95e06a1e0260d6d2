/**
 * tkdb's audit trail on @tkdb/audit's append-only, hash-chained file log (issue 14 item 1), one
 * log per node in TKDB_AUDIT_DIR (default `<data dir>/audit`; on Fly on the volume, outside the
 * LiteFS mount), never in the database.
 *
 * - Mutations (org_create, mint, revoke, strip): a durable intent (fdatasync, group commit) before
 *   the transaction, an outcome after it (mutate.ts). The transaction that makes the change also
 *   inserts (node, intent seq and hash) into `audit_intents`, so at start `reconcile` decides an
 *   intent left without an outcome by a crash: its row is there ("ok", the change committed) or
 *   not ("aborted").
 * - `discharge`: no database effect at all. The bundle is checked and the discharge built first
 *   (nothing has left yet), then a durable intent naming it (org, app, user, the discharge's hashed
 *   nonce, the user token's nonce), then the outcome, then the reply.
 * - Outcomes are chained before the reply (a broken log refuses the call) but not awaited on disk
 *   (`appendSoon`: the next group commit, a 5 ms timer, or close), so a call waits for one
 *   fdatasync, not two (issue 17). If the process ends first, the durable intent is what remains:
 *   `reconcile` closes a mutation's exactly (above) and a discharge's as outcome `error`, code
 *   `outcome_unknown` (it may or may not have been answered; the intent names what was built).
 *   An "ok" discharge may still have been lost on the way to the client: "released", not "received".
 * - `verify`: one buffered event per call (a crash may lose the last second of them).
 *   `revocations`: no line per poll; `count` aggregates them into one `counter` line per client,
 *   outcome and minute (at most 1 440 lines, about 0.4 MB, per polling client a day).
 * - Refusals (bad input, forbidden, not_primary, …) are one buffered `event` with the code.
 * - Events hold typed identities only (org, app, user id, nonces via tokenRef/nonceRef, rid, the
 *   caller's Noise key): never a token, a discharge, a header, a key or rejected input.
 * - If the log cannot take an intent (a failed write or fsync, a full disk) the operation does
 *   not happen: the caller gets `unavailable`.
 */

import { hostname } from "node:os";
import { join } from "node:path";
import {
  type Appended,
  type AuditIds,
  type AuditLine,
  AuditLog,
  type AuditOutcome,
  cliActor,
  isAuditError,
  nonceRef,
  tokenRef,
} from "@tkdb/audit";
import type { Macaroon } from "@tkdb/macaroon";
import { ServiceError } from "@tkdb/service";
import { auditDirOf } from "./env.js";
import { ConfigError, TkdbError } from "./errors.js";
import type { AuditRecord } from "./store.js";

export { auditDirOf };

const NODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$/;

/**
 * The node's name in its events: TKDB_AUDIT_NODE / FLY_MACHINE_ID when set (checked: letters,
 * digits, `_.-`, at most 60, so `<node>-cli` fits), else the host name made to fit, else `tkdb`.
 */
export function auditNodeName(configured: string | undefined): string {
  if (configured !== undefined) {
    if (!NODE.test(configured))
      throw new ConfigError("TKDB_AUDIT_NODE must be 1-60 letters, digits, '_', '.' or '-'");
    return configured;
  }
  const h = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 60);
  return NODE.test(h) ? h : "tkdb";
}

/**
 * The ops whose effect is a database write (reconciled against `audit_intents`);
 * `revoke_reapplied` is the start-time re-apply of revocations after a restore (reapply.ts).
 */
export const MUTATION_OPS: readonly string[] = ["org_create", "mint", "revoke", "strip", "revoke_reapplied"];

/** What reconcile needs from the database. */
export interface IntentStore {
  /** True if the transaction of this node's intent (seq and line hash) committed. */
  intentCommitted(node: string, seq: number, hash: string): boolean;
}

/** A token named without its material: its nonce and a prefix of SHA-256 of its tail. */
export function refOf(m: Macaroon): { nonce: string; tail_sha256_prefix: string } {
  const tail = m.unsafeTail();
  try {
    return tokenRef(Buffer.from(m.nonce.encode()).toString("base64"), tail);
  } finally {
    tail.fill(0);
  }
}

/** A Fly nonce (standard base64) as an audit `nonce`/`parent_nonce` value. */
export function nonceField(nonceB64: string): string {
  return nonceRef(nonceB64);
}

/**
 * The audit `rid`: the client's request id behind an `r` (a request id is 22 base64url
 * characters and may begin with `-` or `_`, which @tkdb/audit's id format does not accept).
 */
export function auditRid(rid: string): string {
  return `r${rid}`;
}

const ERROR_CODES = new Set(["internal", "storage", "corrupt", "integrity", "audit_unavailable"]);

/** The outcome and code an error is logged with: tkdb's wire code, never the message. */
export function outcomeOf(err: unknown): { outcome: AuditOutcome; code: string } {
  let code = "internal";
  if (err instanceof TkdbError) code = err.code;
  else if (err instanceof ServiceError || isAuditError(err)) code = err.code;
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(code)) code = "internal";
  return { outcome: ERROR_CODES.has(code) ? "error" : "refused", code };
}

/** The refusal a caller gets when the log cannot take an event: the operation did not happen. */
function auditUnavailable(cause: unknown): ServiceError {
  return new ServiceError("unavailable", "the audit log cannot be written; the operation was not performed", {
    cause,
  });
}

/** Errors already logged by the op's own wrapper (so the outer refusal logger skips them). */
const logged = new WeakSet<object>();

export function markLogged(err: unknown): unknown {
  if (typeof err === "object" && err !== null) logged.add(err);
  return err;
}

export function isLogged(err: unknown): boolean {
  return typeof err === "object" && err !== null && logged.has(err);
}

/** tkdb's view of one node's AuditLog. */
export class TkdbAudit {
  constructor(readonly log: AuditLog) {}

  get node(): string {
    return this.log.node;
  }

  /** A durable intent; `unavailable` if the log cannot take it (the op must not run). */
  async intent(op: string, actor: string, ids: AuditIds = {}): Promise<Appended> {
    try {
      return await this.log.appendDurable({ kind: "intent", op, actor, ...ids });
    } catch (e) {
      throw auditUnavailable(e);
    }
  }

  /**
   * The outcome of an intent (ok with the result's ids, or the error's code), chained now and on
   * disk within milliseconds without waiting (see the file comment); `unavailable` if the log
   * cannot take it.
   */
  outcome(intentSeq: number, op: string, actor: string, result: { ids: AuditIds } | { err: unknown }): void {
    const o = "err" in result ? outcomeOf(result.err) : { outcome: "ok" as const, ...result.ids };
    try {
      this.log.appendSoon({ kind: "outcome", op, actor, intent_seq: intentSeq, ...o });
    } catch (e) {
      throw auditUnavailable(e);
    }
  }

  /**
   * The outcome of a committed revocation, on disk before the reply: the nonces it names are what
   * a restart re-applies after a restore (reapply.ts), so they may not be lost in a crash.
   */
  async outcomeDurable(intentSeq: number, op: string, actor: string, ids: AuditIds): Promise<void> {
    try {
      await this.log.appendDurable({
        kind: "outcome",
        op,
        actor,
        intent_seq: intentSeq,
        outcome: "ok",
        ...ids,
      });
    } catch (e) {
      throw auditUnavailable(e);
    }
  }

  /** A buffered event (verify, refusals): `unavailable` if the log is broken. */
  event(op: string, actor: string, result: { ids: AuditIds } | { err: unknown }): void {
    const o = "err" in result ? outcomeOf(result.err) : { outcome: "ok" as const, ...result.ids };
    try {
      this.log.appendBuffered({ kind: "event", op, actor, ...o });
    } catch (e) {
      throw auditUnavailable(e);
    }
  }

  /** One feed poll, aggregated into the next `counter` line. */
  count(op: string, actor: string, err?: unknown): void {
    try {
      this.log.count(err === undefined ? { op, actor } : { op, actor, ...outcomeOf(err) });
    } catch (e) {
      throw auditUnavailable(e);
    }
  }

  close(): Promise<void> {
    return this.log.close();
  }
}

/**
 * Opens this node's log and reconciles the intents a crash left without an outcome, before the
 * node serves: mutations against `audit_intents`, anything else (a discharge) as unknown (see the
 * file comment).
 */
export async function openAudit(
  dir: string,
  node: string,
  store: IntentStore,
  opts: { timers?: boolean } = {},
): Promise<TkdbAudit> {
  let log: AuditLog;
  try {
    log = await AuditLog.open(dir, { node, ...(opts.timers === false ? { timers: false } : {}) });
  } catch (cause) {
    if (isAuditError(cause, "integrity"))
      throw new TkdbError("corrupt", `the audit log in ${dir} does not verify`, { cause });
    throw new ServiceError("unavailable", `cannot open the audit log in ${dir}`, { cause });
  }
  try {
    await log.reconcile((intent: AuditLine) => {
      if (!MUTATION_OPS.includes(intent.op)) return "unknown";
      return store.intentCommitted(node, intent.seq, intent.hash) ? "ok" : "aborted";
    });
  } catch (cause) {
    await log.close().catch(() => undefined);
    throw new ServiceError("unavailable", "cannot reconcile the audit log", { cause });
  }
  return new TkdbAudit(log);
}

/**
 * Runs a local admin command's audited work with the CLI's own log, `<audit dir>/cli` as node
 * `<node>-cli` (the server holds the node's log), reconciled at open like the server's.
 */
export async function withCliAudit<R>(
  config: { dbPath: string; auditDir?: string | undefined; auditNode?: string | undefined },
  store: IntentStore,
  fn: (audit: TkdbAudit) => Promise<R>,
): Promise<R> {
  const node = `${auditNodeName(config.auditNode)}-cli`;
  const audit = await openAudit(join(auditDirOf(config), "cli"), node, store, { timers: false });
  try {
    return await fn(audit);
  } finally {
    await audit.close();
  }
}

/** `cli:<user>` for an operating-system user name; `cli:unknown` for one the format refuses. */
export function cliActorOf(user: string): string {
  try {
    return cliActor(user);
  } catch {
    return "cli:unknown";
  }
}

/**
 * The old in-database audit table (before migration 0002) as OpenSearch `_bulk` lines, for the
 * one-time `tkdb audit export --legacy`: action line (index, _id = seq) and document per record.
 */
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
