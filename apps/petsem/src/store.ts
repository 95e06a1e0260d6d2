import type { IdempotencyRecords } from "@tkdb/audit";
import type { Keyring } from "@tkdb/service";
import { verifyAuditChain } from "./audit.js";
import { type BackendName, decodeUtf8, getBackend, PetsemCrypto, wipe } from "./crypto.js";
import { type Db, fileExists, openRaw, prepare, type Sqlite } from "./db.js";
import { PetsemError } from "./errors.js";
import { AppKeyCache } from "./store/app-keys.js";
import { type AppliedIntent, forgetApplied, wasApplied } from "./store/applied.js";
import { entriesOf, type StoreCore, toPetsemError, type UnsafeTestHooks } from "./store/core.js";
import { applyDeploy, type DeployRequest, type DeployResult } from "./store/deploys.js";
import { checkEpoch, currentEpoch, type EpochReason, mintEpoch } from "./store/epochs.js";
import { type HistoryRequest, type HistoryResult, secretHistory } from "./store/history.js";
import { createKeyring } from "./store/kek.js";
import {
  commitMutation,
  type IdempotencyLimits,
  openIdempotency,
  type Staged,
  type StagedCall,
  stagedMutation,
} from "./store/mutate.js";
import {
  type AppVersionRow,
  type AuditRow,
  appVersions,
  auditRows,
  listSecrets,
  type OpenedValues,
  openValues,
} from "./store/reads.js";
import { getApp } from "./store/rows.js";
import { existingServerKey, initServerKey, metaKey } from "./store/server-keys.js";
import { applyBatch, applyRollback } from "./store/writes.js";
import type {
  CallContext,
  Epoched,
  ListRequest,
  ListResult,
  ResolveRequest,
  ResolveResult,
  RollbackRequest,
  RollbackResult,
  SetRequest,
  SetResult,
  UnsetRequest,
} from "./types.js";
import { checkBatchSize, checkId, checkName, checkValue, checkVersion, LIMITS } from "./validate.js";

export type { AppliedIntent } from "./store/applied.js";
export type { UnsafeTestHooks } from "./store/core.js";
export type { Staged, StagedCall } from "./store/mutate.js";
export type {
  CallContext,
  ListRequest,
  ListResult,
  ResolvedSecret,
  ResolveRequest,
  ResolveResult,
  RollbackRequest,
  RollbackResult,
  SecretChange,
  SecretMeta,
  SetRequest,
  SetResult,
  UnsetRequest,
} from "./types.js";

export interface SecretStoreOptions {
  /** path of the SQLite file, or ":memory:" */
  readonly file: string;
  readonly kek: Uint8Array;
  /** PETSEM_KEK_NEXT: opens, and seals once `petsem kek rotate` has moved the database onto it */
  readonly kekNext?: Uint8Array | null;
  /** PETSEM_KEK_RETIRED: open only (restores of backups made before a rotation) */
  readonly kekRetired?: readonly Uint8Array[];
  readonly backend?: BackendName;
  readonly now?: () => number;
  /** idempotency record expiry and per-client bound (defaults: store/mutate.ts) */
  readonly idempotency?: IdempotencyLimits;
  readonly unsafeTestHooks?: UnsafeTestHooks;
}

export class SecretStore {
  readonly crypto: PetsemCrypto;
  private readonly sqlite: Sqlite;
  private readonly db: Db;
  /** every configured KEK (store/kek.ts): what the wrapped keys are sealed with */
  readonly ring: Keyring;
  private readonly serverKey: Uint8Array;
  private readonly now: () => number;
  private readonly idempotency: IdempotencyRecords;
  private readonly idempotencyKey: Uint8Array;
  /** set while `stage` runs: the call that reached `mutate` or `resolve` is captured, not run */
  private staging: { call?: StagedCall<unknown> } | null = null;
  private readonly hooks: UnsafeTestHooks;
  private readonly keys: AppKeyCache;
  /** What the row, key, write and read functions (src/store/) work on. */
  private readonly core: StoreCore;
  private closed = false;

  private constructor(
    opts: SecretStoreOptions,
    sqlite: Sqlite,
    db: Db,
    crypto: PetsemCrypto,
    serverKey: Uint8Array,
    ring: Keyring,
  ) {
    this.sqlite = sqlite;
    this.db = db;
    this.crypto = crypto;
    this.ring = ring;
    this.serverKey = serverKey;
    this.now = opts.now ?? Date.now;
    this.hooks = opts.unsafeTestHooks ?? {};
    this.keys = new AppKeyCache(db, sqlite, crypto, ring, this.now);
    this.core = { db, sqlite, crypto, keys: this.keys, now: this.now, hooks: this.hooks };
    const idem = openIdempotency(this.core, serverKey, opts.idempotency ?? {}, ring);
    this.idempotency = idem.records;
    this.idempotencyKey = idem.key;
  }

  /**
   * Opens (creating if needed) the store. A KEK that does not open an existing database is
   * detected before anything is written: `wrong_kek`, and the file is left exactly as it was.
   */
  static open(opts: SecretStoreOptions): SecretStore {
    if (!(opts.kek instanceof Uint8Array) || opts.kek.length !== 32) {
      throw new PetsemError("config", "the key-encryption key must be 32 bytes");
    }
    const crypto = new PetsemCrypto(getBackend(opts.backend ?? "native"));
    const existed = fileExists(opts.file);
    const ring = createKeyring(opts);
    const sqlite = openRaw(opts.file);
    try {
      const existing = existed ? existingServerKey(sqlite, ring) : null;
      const db = prepare(sqlite);
      const serverKey = existing ?? initServerKey(sqlite, db, ring, () => crypto.newKey());
      return new SecretStore(opts, sqlite, db, crypto, serverKey, ring);
    } catch (e) {
      ring.destroy();
      sqlite.close();
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.keys.clear();
    wipe(this.serverKey, this.idempotencyKey);
    this.ring.destroy();
    this.sqlite.close();
  }

  // ----- meta: wrapped server-wide keys (used by tokens.ts for the macaroon root key)

  /** Returns the KEK-unwrapped meta key `name`, creating a random one on first use. */
  metaKey(name: string): Uint8Array {
    return metaKey(this.core, this.ring, name, () => this.crypto.newKey());
  }

  // ----- writes

  set(req: SetRequest, ctx: CallContext = {}): SetResult & Epoched {
    const org = checkId(req.org, "org");
    const app = checkId(req.app, "app");
    const entries = entriesOf(req.values);
    checkBatchSize(entries.length);
    const values = new Map<string, string | null>();
    for (const [name, value] of entries) {
      checkName(name);
      values.set(name, value === null ? null : checkValue(value));
    }
    const cas = new Map<string, number>();
    if (req.cas !== undefined) {
      for (const [name, v] of entriesOf(req.cas)) {
        checkName(name);
        if (!values.has(name))
          throw new PetsemError("invalid_request", "cas names must be part of the batch");
        cas.set(name, checkVersion(v, "cas"));
      }
    }
    const expected =
      req.expectedAppVersion === undefined
        ? undefined
        : checkVersion(req.expectedAppVersion, "expected_app_version");
    const names = [...values.keys()].sort();
    // The replay fingerprint covers which names are set or unset, never the values: it is stored
    // outside the ciphertext, and comparing it on a repeated rid would answer "is this the value
    // you wrote?" (item 1). A repeat of a rid with other values gets the stored result.
    const shape = new Map(names.map((n) => [n, values.get(n) === null ? null : "value"] as const));
    return this.mutate(
      "set",
      org,
      app,
      ctx,
      { org, app, values: shape, cas, expected },
      { names, count: names.length },
      () => applyBatch(this.core, org, app, names, values, cas, expected),
    );
  }

  unset(req: UnsetRequest, ctx: CallContext = {}): SetResult & Epoched {
    if (!Array.isArray(req.names)) throw new PetsemError("invalid_request", "names must be an array");
    const values = new Map<string, null>();
    for (const n of req.names) values.set(checkName(n), null);
    const base = { org: req.org, app: req.app, values };
    return this.set(
      req.expectedAppVersion === undefined ? base : { ...base, expectedAppVersion: req.expectedAppVersion },
      ctx,
    );
  }

  rollback(req: RollbackRequest, ctx: CallContext = {}): RollbackResult & Epoched {
    const org = checkId(req.org, "org");
    const app = checkId(req.app, "app");
    const name = checkName(req.name);
    const toVersion = checkVersion(req.toVersion, "to_version");
    const cas = req.cas === undefined ? undefined : checkVersion(req.cas, "cas");
    return this.mutate(
      "rollback",
      org,
      app,
      ctx,
      { org, app, name, toVersion, cas },
      { names: [name], to_version: toVersion },
      () => applyRollback(this.core, org, app, name, toVersion, cas),
    );
  }

  /** The app version the next boot must reach (store/deploys.ts): audited, idempotent. */
  deploy(req: DeployRequest, ctx: CallContext = {}): DeployResult & Epoched {
    const [org, app] = [checkId(req.org, "org"), checkId(req.app, "app")];
    const v = req.minVersion === undefined ? undefined : checkVersion(req.minVersion, "min_version");
    const intent = { min_version: v ?? "current" };
    const apply = () => applyDeploy(this.core, org, app, v);
    return this.mutate("deploy", org, app, ctx, { org, app, ...intent }, intent, apply);
  }

  /**
   * Every mutation goes through here: one optionally idempotent write transaction (store/mutate.ts).
   * While `stage` runs, the validated call is captured instead, for the audited store (audit.ts)
   * to run after its durable intent; the returned value is then never used.
   */
  private mutate<R extends { app_version: number }>(
    op: string,
    org: string,
    app: string,
    ctx: CallContext,
    fingerprintOf: unknown,
    auditIds: Readonly<Record<string, unknown>>,
    apply: () => R,
  ): R & Epoched {
    const m = { op, org, app, ctx, fingerprintOf, apply };
    const run = (intent: AppliedIntent | null) => commitMutation(this.core, this.idempotency, m, intent);
    if (this.staging === null) return run(null);
    this.staging.call = stagedMutation(m, auditIds, run);
    return undefined as unknown as R & Epoched;
  }

  /**
   * Validates a call (`call(this)`: any public method) and, if it is a mutation or `resolve`,
   * returns it staged, its effect not run; any other call (list, history) has run and its result
   * is returned. The audited store (audit.ts) writes the durable intent between the two.
   */
  stage<R>(call: (store: SecretStore) => R): Staged<R> {
    if (this.staging !== null) throw new PetsemError("internal", "calls cannot be staged inside one another");
    const staging: { call?: StagedCall<unknown> } = {};
    this.staging = staging;
    let result: R;
    try {
      result = call(this);
    } finally {
      this.staging = null;
    }
    const staged = staging.call as StagedCall<R> | undefined;
    return staged === undefined ? { result } : { staged };
  }

  // ----- epochs and audit reconciliation

  /** The current epoch (store/epochs.ts). */
  epoch(): string {
    return currentEpoch(this.core);
  }

  /** Mints a new epoch: after a restore, or when this copy is promoted to primary. */
  mintEpoch(reason: Exclude<EpochReason, "initial">): string {
    return this.sqlite.transaction(() => mintEpoch(this.core, reason)).immediate();
  }

  /** Whether the audit intent's effect committed (its `audit_applied` row; store/applied.ts). */
  wasApplied(intent: AppliedIntent): boolean {
    return wasApplied(this.core, intent);
  }

  /** After the audit log reconciled: `node` owes no outcome any more. */
  forgetApplied(node: string): void {
    forgetApplied(this.core, node);
  }

  // ----- reads

  list(req: ListRequest): ListResult {
    const org = checkId(req.org, "org");
    const app = checkId(req.app, "app");
    const minVersion = req.minVersion === undefined ? 0 : checkVersion(req.minVersion, "min_version");
    const minEpoch = req.minEpoch === undefined ? undefined : checkEpoch(req.minEpoch);
    return listSecrets(this.core, org, app, minVersion, minEpoch);
  }

  history(req: HistoryRequest): HistoryResult {
    return secretHistory(this.core, checkId(req.org, "org"), checkId(req.app, "app"), checkName(req.name));
  }

  /**
   * The only call that returns values: a consistent read and decrypt, and only then are the
   * plaintexts decoded. The audited store (audit.ts) stages it: durable intent → read → durable
   * outcome → decode; if the outcome cannot be written the plaintext buffers are wiped and nothing
   * is returned (P8). A store behind `(minEpoch, minVersion)` throws `stale`, never older or other
   * contents (P17, store/epochs.ts).
   */
  resolve(req: ResolveRequest, _ctx: CallContext = {}): ResolveResult {
    const org = checkId(req.org, "org");
    const app = checkId(req.app, "app");
    const minVersion = checkVersion(req.minVersion, "min_version");
    const minEpoch = req.minEpoch === undefined ? undefined : checkEpoch(req.minEpoch);
    let wanted: string[] | null = null;
    if (req.names !== undefined && req.names !== null) {
      if (!Array.isArray(req.names)) throw new PetsemError("invalid_request", "names must be an array");
      if (req.names.length > LIMITS.maxBatch) {
        throw new PetsemError("too_many", "too many names", { details: { limit: LIMITS.maxBatch } });
      }
      wanted = [...new Set(req.names.map(checkName))].sort();
    }
    const wipeAll = (read: OpenedValues) => {
      for (const p of read.plain) wipe(p.bytes);
    };
    const run = (): OpenedValues => {
      const read: OpenedValues = { appVersion: 0, epoch: "", plain: [], missing: [] };
      try {
        openValues(this.core, org, app, wanted, minVersion, minEpoch, read);
      } catch (e) {
        wipeAll(read);
        throw toPetsemError(e);
      }
      return read;
    };
    const release = (read: OpenedValues): ResolveResult => {
      const secrets = read.plain.map((p) => {
        const value = decodeUtf8(p.bytes);
        wipe(p.bytes);
        return { name: p.name, version: p.version, value };
      });
      return { app_version: read.appVersion, epoch: read.epoch, secrets, missing: read.missing };
    };
    if (this.staging === null) return release(run());
    this.staging.call = {
      op: "resolve",
      org,
      app,
      mutation: false,
      version: minVersion,
      ...(wanted === null || wanted.length === 0 ? {} : { names: wanted }),
      run,
      release: (done) => release(done as OpenedValues),
      discard: (done) => wipeAll(done as OpenedValues),
    };
    return undefined as unknown as ResolveResult;
  }

  /** The current app version (0 for an app never written). */
  appVersion(org: bigint, app: bigint): number {
    return getApp(this.core, checkId(org, "org"), checkId(app, "app"))?.appVersion ?? 0;
  }

  /** Every app's current version (public metadata; used to report what a restore contains). */
  appVersions(): AppVersionRow[] {
    return appVersions(this.core);
  }

  /** Recomputes the audit hash chain; `brokenAt` is the first seq that does not verify. */
  verifyAuditChain(): { ok: boolean; count: number; brokenAt?: number } {
    return verifyAuditChain(this.db, this.crypto);
  }

  /** Read-only view of the audit trail (for operators and tests). */
  auditLog(): AuditRow[] {
    return auditRows(this.core);
  }
}
