/**
 * Request and result shapes of the secret store. Results use snake_case: they are the wire shapes the
 * RPC layer returns as they are (and that idempotency records store).
 */
export interface SetRequest {
  readonly org: bigint;
  readonly app: bigint;
  /** name → value, or null to unset. A Map or a plain object (own enumerable keys). */
  readonly values: ReadonlyMap<string, string | null> | Readonly<Record<string, string | null>>;
  readonly expectedAppVersion?: number;
  readonly cas?: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
}

export interface UnsetRequest {
  readonly org: bigint;
  readonly app: bigint;
  readonly names: readonly string[];
  readonly expectedAppVersion?: number;
}

export interface SecretChange {
  name: string;
  version: number;
  digest: string | null;
  deleted: boolean;
  changed: boolean;
}

export interface SetResult {
  app_version: number;
  changed: boolean;
  secrets: SecretChange[];
}

export interface ListRequest {
  readonly org: bigint;
  readonly app: bigint;
  readonly minVersion?: number;
}

export interface SecretMeta {
  name: string;
  digest: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface ListResult {
  app_version: number;
  secrets: SecretMeta[];
}

export interface RollbackRequest {
  readonly org: bigint;
  readonly app: bigint;
  readonly name: string;
  readonly toVersion: number;
  readonly cas?: number;
}

export interface RollbackResult {
  name: string;
  version: number;
  app_version: number;
  digest: string;
  changed: boolean;
}

export interface ResolveRequest {
  readonly org: bigint;
  readonly app: bigint;
  /** null/undefined = every live secret of the app */
  readonly names?: readonly string[] | null;
  readonly minVersion: number;
}

export interface ResolvedSecret {
  name: string;
  version: number;
  value: string;
}

export interface ResolveResult {
  app_version: number;
  secrets: ResolvedSecret[];
  /** requested names that have no live value */
  missing: string[];
}

export interface CallContext {
  /** correlates the audit intent and outcome; the RPC layer passes the request's rid */
  readonly requestId?: string;
  /** who asked (e.g. token nonce or client key), recorded in audit */
  readonly actor?: string;
  /** resolve: the user and nonces tkdb's discharge names, recorded in the audit beside `actor` */
  readonly principal?: Readonly<Record<string, string>>;
  /** enables replay protection for mutating calls */
  readonly idempotency?: { readonly clientKey: string; readonly rid: string };
}
