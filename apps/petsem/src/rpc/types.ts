/**
 * What the RPC layer needs from the rest of petsem, declared where it is used (STYLE.md habit 13):
 * an `Authorizer` (src/tokens.ts PetsemAuthority implements it) and a `SecretsStore`
 * (src/store.ts SecretStore implements it), each with its error contract.
 */
import type { NoiseOpContext } from "@tkdb/noise";
import type {
  CallContext,
  ListRequest,
  ListResult,
  ResolveRequest,
  ResolveResult,
  RollbackRequest,
  RollbackResult,
  SetRequest,
  SetResult,
  UnsetRequest,
} from "../store.js";
import type { DeployRequest, DeployResult, HistoryRequest, HistoryResult } from "../types.js";

/** The operations a token can allow (SecretOps bits). */
export type PetsemOp = "set" | "unset" | "list" | "rollback" | "resolve";

export interface Authorization {
  /** non-secret identity of the caller's token for the audit (e.g. its nonce, hex) */
  readonly actor: string;
  /** resolve: who released the read, as tkdb's discharge states it (user, token and discharge nonces) */
  readonly principal?: Readonly<Record<string, string>>;
  /** the permission token, for the audit's tokenRef: its nonce (standard base64) and its tail */
  readonly token?: { readonly nonce: string; readonly tail: Uint8Array };
}

/** Decides whether `header` may do `ops` on (org, app). Throws PetsemError `unauthorized` (no
 * valid token, or a revoked one), `forbidden` (valid token, not allowed) or `unavailable` (tkdb's
 * revocation feed is silent: resolve fails closed). */
export interface Authorizer {
  authorize(header: string, ops: readonly PetsemOp[], org: bigint, app: bigint): Authorization;
}

/**
 * The secret store as the RPCs use it. Every method throws only PetsemError: `invalid_name`,
 * `reserved_name`, `too_large`, `too_many`, `invalid_request` (bad input), `cas_mismatch` (a
 * check-and-set expectation failed, with `current_version`/`app_version` details), `not_found`
 * (rollback to an unknown version), `stale` (behind `min_version`), `idempotency_mismatch` (a rid
 * reused with other arguments), `audit_unavailable` (the audit could not be written, so nothing
 * happened) or `integrity` (stored data failed authentication). Mutations are all-or-nothing and
 * record `(client key, rid)` with their result in the same transaction.
 */
export interface SecretsStore {
  set(req: SetRequest, ctx?: CallContext): SetResult;
  unset(req: UnsetRequest, ctx?: CallContext): SetResult;
  rollback(req: RollbackRequest, ctx?: CallContext): RollbackResult;
  list(req: ListRequest): ListResult;
  /** records the app version the next boot must reach; `invalid_request` past the current version,
   * `conflict` below the existing record; idempotent per (client key, rid) like every mutation */
  deploy(req: DeployRequest, ctx?: CallContext): DeployResult;
  /** one secret's kept versions (`not_found` for a name never written); never values */
  history(req: HistoryRequest): HistoryResult;
  resolve(req: ResolveRequest, ctx?: CallContext): ResolveResult;
}

/**
 * The store as the RPCs get it: each call audited (src/audit-log.ts `wrapStore`), so each returns
 * a promise. Mutations and resolve run between a durable audit intent and outcome and are refused
 * with `audit_unavailable` when the audit log cannot take them.
 */
export type AuditedSecrets = {
  readonly [K in keyof SecretsStore]: (
    ...args: Parameters<SecretsStore[K]>
  ) => Promise<ReturnType<SecretsStore[K]>>;
};

export interface RpcDeps {
  readonly store: AuditedSecrets;
  readonly authorizer: Authorizer;
}

/** The call context of a mutating op: its rid is the idempotency key, per client key. */
export function mutating(ctx: NoiseOpContext, auth: Authorization): CallContext {
  return {
    requestId: ctx.rid,
    actor: auth.actor,
    idempotency: { clientKey: ctx.clientKeyBase64Url, rid: ctx.rid },
  };
}
