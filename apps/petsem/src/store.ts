import { type AuditEntry, type AuditSink, TableAuditSink, verifyAuditChain } from "./audit.js";
import { type BackendName, decodeUtf8, getBackend, PetsemCrypto, wipe } from "./crypto.js";
import { type Db, fileExists, openRaw, prepare, type Sqlite } from "./db.js";
import { isPetsemError, PetsemError } from "./errors.js";
import { AppKeyCache } from "./store/app-keys.js";
import {
  canonicalJson,
  entriesOf,
  newRequestId,
  type StoreCore,
  toPetsemError,
  type UnsafeTestHooks,
} from "./store/core.js";
import {
  type AppVersionRow,
  type AuditRow,
  appVersions,
  auditRows,
  listSecrets,
  type OpenedValues,
  openValues,
} from "./store/reads.js";
import { priorResult, saveResult } from "./store/replay.js";
import { getApp } from "./store/rows.js";
import { existingServerKey, initServerKey, metaKey } from "./store/server-keys.js";
import { applyBatch, applyRollback } from "./store/writes.js";
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
} from "./types.js";
import { checkBatchSize, checkId, checkName, checkValue, checkVersion, LIMITS } from "./validate.js";

export type { AuditEntry, AuditOp, AuditSink } from "./audit.js";
export { TableAuditSink } from "./audit.js";
export type { UnsafeTestHooks } from "./store/core.js";
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
  readonly backend?: BackendName;
  readonly now?: () => number;
  /** wraps the default table sink (fault injection, forwarding); receives the default sink */
  readonly auditSink?: (tableSink: AuditSink) => AuditSink;
  readonly unsafeTestHooks?: UnsafeTestHooks;
}

export class SecretStore {
  readonly crypto: PetsemCrypto;
  private readonly sqlite: Sqlite;
  private readonly db: Db;
  private readonly kek: Uint8Array;
  private readonly serverKey: Uint8Array;
  private readonly now: () => number;
  private readonly audit: AuditSink;
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
  ) {
    this.sqlite = sqlite;
    this.db = db;
    this.crypto = crypto;
    this.kek = new Uint8Array(opts.kek);
    this.serverKey = serverKey;
    this.now = opts.now ?? Date.now;
    const table = new TableAuditSink(db, crypto);
    this.audit = opts.auditSink ? opts.auditSink(table) : table;
    this.hooks = opts.unsafeTestHooks ?? {};
    this.keys = new AppKeyCache(db, crypto, this.kek, this.now);
    this.core = { db, sqlite, crypto, keys: this.keys, now: this.now, hooks: this.hooks };
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
    const sqlite = openRaw(opts.file);
    try {
      const existing = existed ? existingServerKey(sqlite, crypto, opts.kek) : null;
      const db = prepare(sqlite);
      const serverKey = existing ?? initServerKey(sqlite, db, crypto, opts.kek);
      return new SecretStore(opts, sqlite, db, crypto, serverKey);
    } catch (e) {
      sqlite.close();
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.keys.clear();
    wipe(this.kek, this.serverKey);
    this.sqlite.close();
  }

  // ----- meta: wrapped server-wide keys (used by tokens.ts for the macaroon root key)

  /** Returns the KEK-unwrapped meta key `name`, creating a random one on first use. */
  metaKey(name: "macaroon_root_key"): Uint8Array {
    return metaKey(this.core, this.kek, name);
  }

  // ----- writes

  set(req: SetRequest, ctx: CallContext = {}): SetResult {
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

  unset(req: UnsetRequest, ctx: CallContext = {}): SetResult {
    if (!Array.isArray(req.names)) throw new PetsemError("invalid_request", "names must be an array");
    const values = new Map<string, null>();
    for (const n of req.names) values.set(checkName(n), null);
    const base = { org: req.org, app: req.app, values };
    return this.set(
      req.expectedAppVersion === undefined ? base : { ...base, expectedAppVersion: req.expectedAppVersion },
      ctx,
    );
  }

  rollback(req: RollbackRequest, ctx: CallContext = {}): RollbackResult {
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

  /**
   * One audited, optionally idempotent write transaction: intent → change → outcome (→ replay
   * record), all or nothing. A failure after validation is recorded (best effort) in its own
   * transaction so refused attempts leave a trace too.
   */
  private mutate<R extends { app_version: number }>(
    op: "set" | "rollback",
    org: string,
    app: string,
    ctx: CallContext,
    fingerprintOf: unknown,
    intentDetail: AuditEntry["detail"],
    apply: () => R,
  ): R {
    const requestId = ctx.requestId ?? ctx.idempotency?.rid ?? newRequestId();
    const idem = ctx.idempotency;
    const fingerprint = idem
      ? this.crypto.fingerprint(this.serverKey, `${op}|${canonicalJson(fingerprintOf)}`)
      : null;
    const base = { op, org, app, requestId } as const;
    const actor: Record<string, string> = ctx.actor === undefined ? {} : { actor: ctx.actor };
    try {
      return this.sqlite
        .transaction((): R => {
          if (idem && fingerprint) {
            const prior = priorResult<R>(this.core, idem, op, fingerprint);
            if (prior !== undefined) return prior;
          }
          this.appendAudit({ ...base, kind: "intent", detail: { ...intentDetail, ...actor } });
          const result = apply();
          this.appendAudit({
            ...base,
            kind: "outcome",
            detail: { ok: true, app_version: result.app_version },
          });
          if (idem && fingerprint) saveResult(this.core, idem, op, fingerprint, result);
          this.hooks.beforeCommit?.();
          return result;
        })
        .immediate();
    } catch (e) {
      this.recordFailure(base, intentDetail, actor, e);
      throw toPetsemError(e);
    }
  }

  private recordFailure(
    base: Pick<AuditEntry, "op" | "org" | "app" | "requestId">,
    intentDetail: AuditEntry["detail"],
    actor: Record<string, string>,
    e: unknown,
  ): void {
    if (isPetsemError(e, "audit_unavailable") || isPetsemError(e, "idempotency_mismatch")) return;
    const code = isPetsemError(e) ? e.code : "internal";
    try {
      this.sqlite
        .transaction(() => {
          this.appendAudit({ ...base, kind: "intent", detail: { ...intentDetail, ...actor } });
          this.appendAudit({ ...base, kind: "outcome", detail: { ok: false, code } });
        })
        .immediate();
    } catch {
      // The operation already failed and changed nothing; its refusal could not be recorded.
    }
  }

  private appendAudit(e: AuditEntry): void {
    try {
      this.audit.append(e, this.now());
    } catch (cause) {
      throw new PetsemError(
        "audit_unavailable",
        "audit record could not be written; operation not performed",
        {
          cause,
        },
      );
    }
  }

  // ----- reads

  list(req: ListRequest): ListResult {
    const org = checkId(req.org, "org");
    const app = checkId(req.app, "app");
    const minVersion = req.minVersion === undefined ? 0 : checkVersion(req.minVersion, "min_version");
    return listSecrets(this.core, org, app, minVersion);
  }

  /**
   * The only call that returns values. Audit intent (own transaction, so attempts are always on
   * record) → consistent read and decrypt → audit outcome → only then are plaintexts decoded and
   * returned. If either audit record cannot be written, the plaintext buffers are wiped and
   * `audit_unavailable` is thrown (P8). A store behind `minVersion` throws `stale`, never older data (P17).
   */
  resolve(req: ResolveRequest, ctx: CallContext = {}): ResolveResult {
    const org = checkId(req.org, "org");
    const app = checkId(req.app, "app");
    const minVersion = checkVersion(req.minVersion, "min_version");
    let wanted: string[] | null = null;
    if (req.names !== undefined && req.names !== null) {
      if (!Array.isArray(req.names)) throw new PetsemError("invalid_request", "names must be an array");
      if (req.names.length > LIMITS.maxBatch) {
        throw new PetsemError("too_many", "too many names", { details: { limit: LIMITS.maxBatch } });
      }
      wanted = [...new Set(req.names.map(checkName))].sort();
    }
    const requestId = ctx.requestId ?? newRequestId();
    const base = { op: "resolve", org, app, requestId } as const;
    const actor: Record<string, string> = {
      ...(ctx.actor === undefined ? {} : { actor: ctx.actor }),
      ...ctx.principal,
    };
    const intent = { min_version: minVersion, ...(wanted ? { names: wanted } : { all: true }), ...actor };
    this.sqlite.transaction(() => this.appendAudit({ ...base, kind: "intent", detail: intent })).immediate();

    const read: OpenedValues = { appVersion: 0, plain: [], missing: [] };
    try {
      openValues(this.core, org, app, wanted, minVersion, read);
      this.sqlite
        .transaction(() =>
          this.appendAudit({
            ...base,
            kind: "outcome",
            detail: { ok: true, app_version: read.appVersion, names: read.plain.map((p) => p.name) },
          }),
        )
        .immediate();
    } catch (e) {
      for (const p of read.plain) wipe(p.bytes);
      this.recordResolveFailure(base, e);
      throw toPetsemError(e);
    }
    const secrets = read.plain.map((p) => {
      const value = decodeUtf8(p.bytes);
      wipe(p.bytes);
      return { name: p.name, version: p.version, value };
    });
    return { app_version: read.appVersion, secrets, missing: read.missing };
  }

  /** A failed resolve's outcome, unless the audit itself failed (best effort: already failing). */
  private recordResolveFailure(base: Pick<AuditEntry, "op" | "org" | "app" | "requestId">, e: unknown): void {
    if (isPetsemError(e, "audit_unavailable")) return;
    const code = isPetsemError(e) ? e.code : "internal";
    try {
      this.sqlite
        .transaction(() => this.appendAudit({ ...base, kind: "outcome", detail: { ok: false, code } }))
        .immediate();
    } catch {
      // already failing; nothing was returned
    }
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
