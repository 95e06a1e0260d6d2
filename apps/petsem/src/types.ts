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

/** What every mutation's result carries beside its own fields (store/epochs.ts). */
export interface Epoched {
  /** the epoch the app version was written in: a restore or promotion mints a new one */
  epoch: string;
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
  /** the epoch `minVersion` was issued in (store/epochs.ts); absent: the current epoch */
  readonly minEpoch?: string;
}

export interface SecretMeta {
  name: string;
  digest: string;
  version: number;
  /** the app version this secret's current version was written at (compare with `deployed`) */
  app_version: number;
  created_at: string;
  updated_at: string;
}

export interface ListResult {
  app_version: number;
  /** the epoch of `app_version`: a restore or promotion mints a new one (store/epochs.ts) */
  epoch: string;
  secrets: SecretMeta[];
  /** the app's deploy record (`deploy`), or null: never deployed */
  deployed: DeployRecord | null;
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
  /** the epoch `minVersion` was issued in (store/epochs.ts); absent: the current epoch */
  readonly minEpoch?: string;
}

export interface ResolvedSecret {
  name: string;
  version: number;
  value: string;
}

export interface ResolveResult {
  app_version: number;
  epoch: string;
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

export interface DeployRequest {
  readonly org: bigint;
  readonly app: bigint;
  /** the app version the next boot must reach; default: the app's current version */
  readonly minVersion?: number;
}

export interface DeployRecord {
  min_version: number;
  deployed_at: string;
}

export interface DeployResult extends DeployRecord {
  app_version: number;
  /** false: the record already said this */
  changed: boolean;
}

export interface HistoryRequest {
  readonly org: bigint;
  readonly app: bigint;
  readonly name: string;
}

export interface HistoryEntry {
  version: number;
  app_version: number;
  created_at: string;
  /** an unset */
  deleted: boolean;
  /** the version's random fingerprint (null for an unset); unrelated to the value */
  digest: string | null;
}

export interface HistoryResult {
  app_version: number;
  name: string;
  current_version: number;
  live: boolean;
  /** newest first; only the versions petsem still keeps */
  versions: HistoryEntry[];
}
