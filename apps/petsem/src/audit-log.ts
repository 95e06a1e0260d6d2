/**
 * petsem's audit trail on @tkdb/audit's append-only, hash-chained file log (issue 14 item 1): one
 * log per node in PETSEM_AUDIT_DIR (default `<data dir>/audit`), the local CLI's in `<dir>/cli`.
 *
 * - Every RPC but `health` runs inside `wrapOps`, which knows the caller (`noise:<client key>`),
 *   the rid, and, once `wrapAuthorizer` has seen the token, its tokenRef (nonce and a hash prefix
 *   of its tail, never the token) and, for resolve, the user and the discharge's hashed nonce.
 * - Mutations (set, unset, rollback, deploy, and any later one that goes through
 *   `SecretStore.mutate`) and `resolve` are fail-closed (`wrapStore`): the call is validated and
 *   staged, a durable intent is written (fsync, group commit), the effect runs (a mutation records
 *   the intent's seq in its own transaction: store/applied.ts), then the outcome. An intent
 *   that cannot be written refuses the call with `audit_unavailable` (a kind of `unavailable`) and
 *   nothing happens; a resolve whose outcome the log refuses returns no value.
 * - The outcome is chained before the reply (so a broken log still refuses it) but not awaited on
 *   disk (`appendSoon`: it goes out with the next group commit, within 5 ms, or at close), so a call
 *   waits for one fdatasync, the intent's (issue 17). If the process ends before the outcome is on
 *   disk, the durable intent remains and the restart's `reconcile` closes it.
 * - Any other call (list, history) and every refusal before the store (bad arguments, a refused
 *   token) is one buffered `event` with its outcome and code.
 * - At start, `reconcile` writes the outcome of each intent left open by a crash: `ok` when its
 *   `audit_applied` row committed; else `aborted` for a mutation; a resolve has no row and may
 *   have returned its values before the process ended, so it gets outcome `error`, code
 *   `outcome_unknown` (its intent names org, app, user and discharge).
 *
 * Events hold the op, the actor, org and app ids, validated secret names, versions, a rid, nonce
 * references and codes: never a value, token, discharge, key or rejected input.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { join } from "node:path";
import {
  type Appended,
  type AuditEventInput,
  type AuditIds,
  AuditLog,
  cliActor,
  noiseActor,
  nonceRef,
  tokenRef,
} from "@tkdb/audit";
import type { NoiseOp } from "@tkdb/noise";
import { isServiceError, WireRefusal } from "@tkdb/service";
import { PetsemError } from "./errors.js";
import type { AuditedSecrets, Authorizer } from "./rpc/types.js";
import type { AppliedIntent, SecretStore, StagedCall } from "./store.js";

/** What a call has told the audit about itself so far. */
interface Call {
  readonly op: string;
  readonly actor: string;
  readonly ids: { -readonly [K in keyof AuditIds]: AuditIds[K] };
  /** an intent (and so its outcome) was written: no separate event */
  recorded: boolean;
}

/** What petsem uses of @tkdb/audit's `AuditLog` (declared here, where it is used). */
export type AuditTrail = Pick<
  AuditLog,
  | "dir"
  | "appendDurable"
  | "appendSoon"
  | "appendBuffered"
  | "reconcile"
  | "flush"
  | "close"
  | "pendingIntents"
>;

export interface PetsemAuditOptions {
  readonly dir: string;
  /** this node's name (Fly machine id): one chain per node */
  readonly node: string;
  readonly clock?: () => number;
  /** false: no flush/checkpoint timers (tests) */
  readonly timers?: boolean;
}

/** The local CLI's log: beside the server's (which holds the server's writer lock). */
export function cliAuditOptions(dir: string, node: string): PetsemAuditOptions {
  return { dir: join(dir, "cli"), node: `${node}-cli`.slice(0, 64) };
}

const ERROR_CODES = new Set(["internal", "integrity", "audit_unavailable", "config", "backup"]);

/** The code an error is logged with: the ServiceError's, also when forWire wrapped it for the client. */
function codeOf(e: unknown): string {
  if (isServiceError(e)) return e.code;
  if (e instanceof WireRefusal) return isServiceError(e.cause) ? e.cause.code : e.code;
  return "internal";
}

function outcomeOf(code: string): "refused" | "error" {
  return ERROR_CODES.has(code) ? "error" : "refused";
}

function unavailable(cause: unknown): PetsemError {
  return new PetsemError("audit_unavailable", "audit record could not be written; operation not performed", {
    cause,
  });
}

/** A rid as the audit schema takes it (`r:` + the client's base64url rid), or nothing. */
function ridRef(rid: unknown): string | undefined {
  return typeof rid === "string" && /^[A-Za-z0-9_-]{1,60}$/.test(rid) ? `r:${rid}` : undefined;
}

export class PetsemAudit {
  private readonly calls = new AsyncLocalStorage<Call>();

  private constructor(
    readonly log: AuditTrail,
    readonly node: string,
  ) {}

  /** Over a log opened elsewhere (tests inject failures through it). */
  static over(log: AuditTrail, node: string): PetsemAudit {
    return new PetsemAudit(log, node);
  }

  static async open(opts: PetsemAuditOptions): Promise<PetsemAudit> {
    const log = await AuditLog.open(opts.dir, {
      node: opts.node,
      ...(opts.clock === undefined ? {} : { clock: opts.clock }),
      ...(opts.timers === undefined ? {} : { timers: opts.timers }),
    });
    return new PetsemAudit(log, opts.node);
  }

  /**
   * Writes the outcome of every intent a crash left open, from the database (`audit_applied`),
   * then forgets this node's rows. Call before serving. Returns how many it reconciled.
   */
  async reconcile(store: Pick<SecretStore, "wasApplied" | "forgetApplied">): Promise<number> {
    const n = await this.log.reconcile((intent) => {
      if (store.wasApplied({ node: intent.node, seq: intent.seq })) return "ok";
      // resolve changes nothing in the database: whether its values went out is unknown
      return intent.op === "resolve" ? "unknown" : "aborted";
    });
    store.forgetApplied(this.node);
    return n;
  }

  close(): Promise<void> {
    return this.log.close();
  }

  // ----- the RPC layer

  /** Runs every op but `health` as an audited call (see the file comment). */
  wrapOps(ops: Record<string, NoiseOp>): Record<string, NoiseOp> {
    return Object.fromEntries(
      Object.entries(ops).map(([name, op]) => [
        name,
        name === "health"
          ? op
          : async (ctx) => {
              const rid = ridRef(ctx.rid);
              const call: Call = {
                op: name,
                actor: noiseActor(ctx.clientKey),
                ids: rid === undefined ? {} : { rid },
                recorded: false,
              };
              return this.calls.run(call, () => this.settle(call, () => op(ctx)));
            },
      ]),
    );
  }

  /** An op's one buffered event, unless a durable intent and outcome already tell its story. */
  private async settle<R>(call: Call, run: () => Promise<R>): Promise<R> {
    let result: R;
    try {
      result = await run();
    } catch (e) {
      if (!call.recorded) {
        const code = codeOf(e);
        try {
          this.log.appendBuffered({
            kind: "event",
            op: call.op,
            actor: call.actor,
            outcome: outcomeOf(code),
            code,
            ...call.ids,
          });
        } catch {
          // already refusing; the log refuses everything once it failed
        }
      }
      throw e;
    }
    if (!call.recorded) {
      try {
        this.log.appendBuffered({
          kind: "event",
          op: call.op,
          actor: call.actor,
          outcome: "ok",
          ...call.ids,
        });
      } catch (e) {
        throw unavailable(e);
      }
    }
    return result;
  }

  /** Tells the current call which org and app it names and which token it carries. */
  wrapAuthorizer(inner: Authorizer): Authorizer {
    return {
      authorize: (header, ops, org, app) => {
        const call = this.calls.getStore();
        if (call !== undefined) Object.assign(call.ids, { org: org.toString(10), app: app.toString(10) });
        const auth = inner.authorize(header, ops, org, app);
        if (call !== undefined) Object.assign(call.ids, this.tokenIds(auth));
        return auth;
      },
    };
  }

  private tokenIds(auth: ReturnType<Authorizer["authorize"]>): AuditIds {
    const out: Record<string, string> = {};
    try {
      if (auth.token !== undefined) Object.assign(out, tokenRef(auth.token.nonce, auth.token.tail));
      const p = auth.principal;
      if (p?.discharge !== undefined) out.parent_nonce = nonceRef(p.discharge);
      if (p?.user !== undefined && /^\d{1,20}$/.test(p.user)) out.user = p.user;
    } catch {
      // a reference that does not parse is left out rather than logged raw
    }
    return out;
  }

  /**
   * The store as the RPCs use it: every call staged (`SecretStore.stage`); a staged one (a
   * mutation, resolve) runs between a durable intent and an outcome (see the file comment).
   */
  wrapStore(store: SecretStore): AuditedSecrets {
    return new Proxy({} as AuditedSecrets, {
      get: (_t, name) => {
        if (typeof name !== "string") return undefined;
        return (...args: unknown[]) => {
          const method = (store as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
          if (typeof method !== "function") throw new PetsemError("internal", "internal error");
          const staged = store.stage((s) => method.apply(s, args));
          if ("result" in staged) return Promise.resolve(staged.result);
          const call = this.calls.getStore() ?? { op: name, actor: "system", ids: {}, recorded: false };
          return this.durable(call, staged.staged);
        };
      },
    });
  }

  /** Durable intent → effect → outcome chained (on disk within ms); see the file comment. */
  private async durable<R>(call: Call, s: StagedCall<R>): Promise<R> {
    call.recorded = true;
    Object.assign(call.ids, { org: s.org, app: s.app });
    const ids: AuditIds = {
      ...call.ids,
      ...(s.names === undefined ? {} : { names: s.names }),
      ...(s.version === undefined ? {} : { version: s.version }),
    };
    const head = { op: call.op, actor: call.actor };
    let intent: Appended;
    try {
      intent = await this.log.appendDurable({ kind: "intent", ...head, ...ids });
    } catch (e) {
      throw unavailable(e);
    }
    const applied: AppliedIntent | null = s.mutation ? { node: this.node, seq: intent.seq } : null;
    let done: unknown;
    try {
      done = s.run(applied);
    } catch (e) {
      const code = codeOf(e);
      try {
        this.log.appendSoon({
          kind: "outcome",
          ...head,
          ...ids,
          outcome: outcomeOf(code),
          code,
          intent_seq: intent.seq,
        });
      } catch {
        // the log is broken: the restart reconciles the open intent
      }
      throw e;
    }
    const reached = (done as { app_version?: unknown; appVersion?: unknown }) ?? {};
    const version = typeof reached.app_version === "number" ? reached.app_version : reached.appVersion;
    const outcome: AuditEventInput = {
      kind: "outcome",
      ...head,
      ...ids,
      ...(typeof version === "number" ? { version } : {}),
      outcome: "ok",
      intent_seq: intent.seq,
    };
    try {
      this.log.appendSoon(outcome);
    } catch (e) {
      s.discard(done);
      throw unavailable(e);
    }
    return s.release(done);
  }

  // ----- local commands (token mint, token revoke)

  /**
   * A local command's effect between a durable intent and a durable outcome, as `cli:<user>`.
   * `after` names what the effect produced (a token's nonce), for the outcome.
   */
  async command<R>(
    op: string,
    user: string,
    ids: AuditIds,
    effect: (intent: AppliedIntent) => R,
    after: (r: R) => AuditIds = () => ({}),
  ): Promise<R> {
    let actor: string;
    try {
      actor = cliActor(user);
    } catch {
      actor = cliActor("unknown");
    }
    const head = { op, actor };
    let intent: Appended;
    try {
      intent = await this.log.appendDurable({ kind: "intent", ...head, ...ids });
    } catch (e) {
      throw unavailable(e);
    }
    let r: R;
    try {
      r = effect({ node: this.node, seq: intent.seq });
    } catch (e) {
      const code = codeOf(e);
      await this.log
        .appendDurable({
          kind: "outcome",
          ...head,
          ...ids,
          outcome: outcomeOf(code),
          code,
          intent_seq: intent.seq,
        })
        .catch(() => undefined);
      throw e;
    }
    try {
      await this.log.appendDurable({
        kind: "outcome",
        ...head,
        ...ids,
        ...after(r),
        outcome: "ok",
        intent_seq: intent.seq,
      });
    } catch (e) {
      throw unavailable(e);
    }
    return r;
  }
}

/**
 * Runs a local command (`token mint`, `token revoke`) with the CLI's audit log open: reconciled
 * against the database first, closed (with a checkpoint) after.
 */
export async function withCliAudit<R>(
  auditDir: string,
  node: string,
  store: Pick<SecretStore, "wasApplied" | "forgetApplied">,
  fn: (audit: PetsemAudit) => Promise<R>,
): Promise<R> {
  const audit = await PetsemAudit.open({ ...cliAuditOptions(auditDir, node), timers: false });
  try {
    await audit.reconcile(store);
    return await fn(audit);
  } finally {
    await audit.close();
  }
}
