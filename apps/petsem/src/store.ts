/**
 * The secret store: per-app versioned secrets, sealed values, per-version random digests,
 * fail-closed audit.
 *
 * Contract (secrets-model.md §5):
 * - `set` applies a batch atomically (name → value | null, null = unset). Every value written is a
 *   new version, also when it equals the stored one: the store never compares a new value with a
 *   stored one, so no reply, digest, version or timing depends on that equality (P11, P19). A batch
 *   bumps the app version by exactly one; only a batch of unsets of names that are not live changes
 *   nothing and returns the current app version (P16, P22).
 * - Optional check-and-set: `expectedAppVersion` guards the whole batch; `cas[name]` guards one
 *   name: it must equal that name's current version, and 0 means "not live now" (create only).
 * - `list` returns metadata and digests, never values. A digest is a random 128-bit id of one
 *   version: it identifies the version, and says nothing about the value.
 * - `rollback` re-seals an earlier version's value as a new version (always, with a fresh digest),
 *   server-side; it returns no value and nothing that depends on one.
 * - `resolve` is the only call that returns values, and only if the store's app version is at least
 *   `minVersion` (else `stale`), and only once both its audit records are written (P8).
 * - Writes record an audit intent, the change and an audit outcome in ONE immediate transaction:
 *   an audit failure rolls back the change (P7, P23).
 * - Mutating calls given `idempotency: {clientKey, rid}` store the result in the same transaction
 *   and answer a repeat with the stored result (a repeat with other arguments: idempotency_mismatch;
 *   values are not part of the comparison, so it is no oracle on them).
 */
import { and, asc, eq, inArray } from "drizzle-orm";
import { type AuditEntry, type AuditSink, TableAuditSink, verifyAuditChain } from "./audit.js";
import {
  type BackendName,
  decodeUtf8,
  encodeUtf8,
  formatDigest,
  getBackend,
  PetsemCrypto,
  valueAad,
  wipe,
} from "./crypto.js";
import { type Db, fileExists, hasTable, openRaw, prepare, type Sqlite } from "./db.js";
import { isPetsemError, PetsemError } from "./errors.js";
import * as t from "./schema.js";
import type {
  CallContext,
  ListRequest,
  ListResult,
  ResolveRequest,
  ResolveResult,
  RollbackRequest,
  RollbackResult,
  SecretChange,
  SetRequest,
  SetResult,
  UnsetRequest,
} from "./types.js";
import { checkBatchSize, checkId, checkName, checkValue, checkVersion, LIMITS } from "./validate.js";

/** Joins a secret's head to the version row it points at. */
const HEAD_VERSION = and(
  eq(t.secretVersions.org, t.secretHeads.org),
  eq(t.secretVersions.app, t.secretHeads.app),
  eq(t.secretVersions.name, t.secretHeads.name),
  eq(t.secretVersions.version, t.secretHeads.version),
);

export type { AuditEntry, AuditOp, AuditSink } from "./audit.js";
export { TableAuditSink } from "./audit.js";
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

// ---------------------------------------------------------------------------------------------
// Store

/** Test-only seams (P23: kill -9 between the steps of a write). Never set in production. */
export interface UnsafeTestHooks {
  afterVersionRow?(index: number): void;
  beforeCommit?(): void;
}

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

interface AppKeys {
  readonly wrappedDek: Buffer;
  readonly kid: number;
  readonly dek: Uint8Array;
}

type AppRow = typeof t.apps.$inferSelect;

const SERVER_KEY = "server_key";
/** How long (client key, rid) → result records are kept. */
const REQUEST_RETENTION_MS = 24 * 3600 * 1000;

function entriesOf<V>(m: ReadonlyMap<string, V> | Readonly<Record<string, V>>): [string, V][] {
  if (m instanceof Map) return [...m.entries()];
  if (typeof m !== "object" || m === null) throw new PetsemError("invalid_request", "expected an object");
  return Object.entries(m as Record<string, V>);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function newRequestId(): string {
  return `local-${process.hrtime.bigint().toString(36)}`;
}

/** Stable JSON for request fingerprints: sorted keys, bigint as decimal. */
function canonicalJson(v: unknown): string {
  if (typeof v === "bigint") return JSON.stringify(v.toString(10));
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (v instanceof Map) return canonicalJson(Object.fromEntries([...v.entries()]));
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(v as object).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
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
  private readonly keyCache = new Map<string, AppKeys>();
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
      let serverKey: Uint8Array | null = null;
      if (existed && hasTable(sqlite, "meta")) {
        const row = sqlite.prepare("SELECT value FROM meta WHERE key = ?").get(SERVER_KEY) as
          | { value: Buffer }
          | undefined;
        if (row) {
          try {
            serverKey = crypto.unwrapKey(opts.kek, new Uint8Array(row.value), { kind: "server-key" });
          } catch (cause) {
            throw new PetsemError(
              "wrong_kek",
              "the key-encryption key does not open this database (wrong PETSEM_KEK?); nothing was changed",
              { cause },
            );
          }
        }
      }
      const db = prepare(sqlite);
      if (serverKey === null) serverKey = SecretStore.initServerKey(sqlite, db, crypto, opts.kek);
      return new SecretStore(opts, sqlite, db, crypto, serverKey);
    } catch (e) {
      sqlite.close();
      throw e;
    }
  }

  /** First open of a new database; safe against several processes creating it at once. */
  private static initServerKey(sqlite: Sqlite, db: Db, crypto: PetsemCrypto, kek: Uint8Array): Uint8Array {
    return sqlite
      .transaction(() => {
        const row = db.select().from(t.meta).where(eq(t.meta.key, SERVER_KEY)).get();
        if (row) {
          try {
            return crypto.unwrapKey(kek, new Uint8Array(row.value), { kind: "server-key" });
          } catch (cause) {
            throw new PetsemError("wrong_kek", "the key-encryption key does not open this database", {
              cause,
            });
          }
        }
        const key = crypto.newKey();
        db.insert(t.meta)
          .values({ key: SERVER_KEY, value: Buffer.from(crypto.wrapKey(kek, key, { kind: "server-key" })) })
          .run();
        return key;
      })
      .immediate();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const k of this.keyCache.values()) wipe(k.dek);
    this.keyCache.clear();
    wipe(this.kek, this.serverKey);
    this.sqlite.close();
  }

  // ----- meta: wrapped server-wide keys (used by tokens.ts for the macaroon root key)

  /** Returns the KEK-unwrapped meta key `name`, creating a random one on first use. */
  metaKey(name: "macaroon_root_key"): Uint8Array {
    const purpose = { kind: "macaroon-root-key" } as const;
    return this.sqlite
      .transaction(() => {
        const row = this.db.select().from(t.meta).where(eq(t.meta.key, name)).get();
        if (row) return this.crypto.unwrapKey(this.kek, new Uint8Array(row.value), purpose);
        const key = this.crypto.newKey();
        const wrapped = this.crypto.wrapKey(this.kek, key, purpose);
        this.db
          .insert(t.meta)
          .values({ key: name, value: Buffer.from(wrapped) })
          .run();
        return key;
      })
      .immediate();
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
      () => this.applyBatch(org, app, names, values, cas, expected),
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
      () => this.applyRollback(org, app, name, toVersion, cas),
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
            const prior = this.db
              .select()
              .from(t.requests)
              .where(and(eq(t.requests.clientKey, idem.clientKey), eq(t.requests.rid, idem.rid)))
              .get();
            if (prior) {
              if (prior.op !== op || !this.crypto.equal(new Uint8Array(prior.fingerprint), fingerprint)) {
                throw new PetsemError("idempotency_mismatch", "request id reused with different arguments");
              }
              return JSON.parse(prior.result) as R;
            }
          }
          this.appendAudit({ ...base, kind: "intent", detail: { ...intentDetail, ...actor } });
          const result = apply();
          this.appendAudit({
            ...base,
            kind: "outcome",
            detail: { ok: true, app_version: result.app_version },
          });
          if (idem && fingerprint) {
            this.db
              .insert(t.requests)
              .values({
                clientKey: idem.clientKey,
                rid: idem.rid,
                op,
                fingerprint: Buffer.from(fingerprint),
                result: JSON.stringify(result),
                createdAt: this.now(),
              })
              .run();
            // Replay records outlive any sane client retry, then go (indexed on created_at).
            this.sqlite
              .prepare("DELETE FROM requests WHERE created_at < ?")
              .run(this.now() - REQUEST_RETENTION_MS);
          }
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

  private applyBatch(
    org: string,
    app: string,
    names: string[],
    values: Map<string, string | null>,
    cas: Map<string, number>,
    expected: number | undefined,
  ): SetResult {
    const row = this.getApp(org, app);
    const appVersion = row?.appVersion ?? 0;
    if (expected !== undefined && expected !== appVersion) {
      throw new PetsemError("cas_mismatch", "app version does not match expected_app_version", {
        details: { current_app_version: appVersion },
      });
    }
    const heads = new Map(
      this.db
        .select()
        .from(t.secretHeads)
        .where(
          and(eq(t.secretHeads.org, org), eq(t.secretHeads.app, app), inArray(t.secretHeads.name, names)),
        )
        .all()
        .map((h) => [h.name, h] as const),
    );
    for (const [name, want] of cas) {
      const head = heads.get(name);
      const ok = want === 0 ? !head?.live : head !== undefined && head.version === want;
      if (!ok) {
        throw new PetsemError("cas_mismatch", "a secret's version does not match its cas", {
          details: { current_version: head?.version ?? 0 },
        });
      }
    }
    // Live-count limit, before any crypto (P21).
    let live = this.liveCount(org, app);
    for (const name of names) {
      const wasLive = heads.get(name)?.live ?? false;
      const willLive = values.get(name) !== null;
      live += Number(willLive) - Number(wasLive);
    }
    if (live > LIMITS.maxSecretsPerApp) {
      throw new PetsemError("too_many", "app is over its secret limit", {
        details: { limit: LIMITS.maxSecretsPerApp },
      });
    }

    const keys = this.keysFor(org, app, row);
    const newAppVersion = appVersion + 1;
    const now = this.now();
    const out: SecretChange[] = [];
    let changed = 0;
    for (const name of names) {
      const head = heads.get(name);
      const value = values.get(name) ?? null;
      const nextVersion = (head?.version ?? 0) + 1;
      let digestOut: string | null = null;
      if (value === null) {
        // Unsetting a name that is not live changes nothing; liveness is what `list` shows anyway.
        if (!head?.live) {
          out.push({ name, version: head?.version ?? 0, digest: null, deleted: true, changed: false });
          continue;
        }
        this.insertVersion(org, app, name, nextVersion, newAppVersion, null, null, now);
      } else {
        // Always a new version with a fresh random digest: never compared with the stored value.
        const plain = encodeUtf8(value);
        const digest = this.crypto.newDigest();
        const sealed = this.crypto.sealValue(
          keys.dek,
          keys.kid,
          valueAad(org, app, name, nextVersion),
          plain,
        );
        wipe(plain);
        this.insertVersion(org, app, name, nextVersion, newAppVersion, sealed, digest, now);
        digestOut = formatDigest(digest);
      }
      this.upsertHead(org, app, name, nextVersion, value !== null, head?.createdAt ?? now, now);
      out.push({
        name,
        version: nextVersion,
        digest: digestOut,
        deleted: value === null,
        changed: true,
      });
      this.hooks.afterVersionRow?.(changed);
      changed++;
    }
    if (changed === 0) return { app_version: appVersion, changed: false, secrets: out };
    this.db
      .update(t.apps)
      .set({ appVersion: newAppVersion })
      .where(and(eq(t.apps.org, org), eq(t.apps.app, app)))
      .run();
    return { app_version: newAppVersion, changed: true, secrets: out };
  }

  private applyRollback(
    org: string,
    app: string,
    name: string,
    toVersion: number,
    cas: number | undefined,
  ): RollbackResult {
    const row = this.getApp(org, app);
    const head = row ? this.getHead(org, app, name) : undefined;
    if (!row || !head) throw new PetsemError("not_found", "no such secret version");
    if (cas !== undefined && (cas === 0 ? head.live : head.version !== cas)) {
      throw new PetsemError("cas_mismatch", "a secret's version does not match its cas", {
        details: { current_version: head.version },
      });
    }
    const old = this.getVersion(org, app, name, toVersion);
    if (!old || old.sealed === null) {
      throw new PetsemError("not_found", "no such secret version (or it is an unset)");
    }
    // Reviving an unset name adds a live secret: the same count limit as `set` (item 6), before
    // any crypto, or rollbacks could grow an app past what `resolve` can return.
    if (!head.live && this.liveCount(org, app) + 1 > LIMITS.maxSecretsPerApp) {
      throw new PetsemError("too_many", "app is over its secret limit", {
        details: { limit: LIMITS.maxSecretsPerApp },
      });
    }
    // Always a new version with a fresh digest, even when the old value equals the current one:
    // the reply must not depend on the values (security issue 12 item 1).
    const keys = this.keysFor(org, app, row);
    const plain = this.crypto.openValue(
      keys.dek,
      keys.kid,
      valueAad(org, app, name, toVersion),
      new Uint8Array(old.sealed),
    );
    const nextVersion = head.version + 1;
    const newAppVersion = row.appVersion + 1;
    const now = this.now();
    const sealed = this.crypto.sealValue(keys.dek, keys.kid, valueAad(org, app, name, nextVersion), plain);
    wipe(plain);
    const digest = this.crypto.newDigest();
    this.insertVersion(org, app, name, nextVersion, newAppVersion, sealed, digest, now);
    this.upsertHead(org, app, name, nextVersion, true, head.createdAt, now);
    this.db
      .update(t.apps)
      .set({ appVersion: newAppVersion })
      .where(and(eq(t.apps.org, org), eq(t.apps.app, app)))
      .run();
    return {
      name,
      version: nextVersion,
      app_version: newAppVersion,
      digest: formatDigest(digest),
      changed: true,
    };
  }

  // ----- reads

  list(req: ListRequest): ListResult {
    const org = checkId(req.org, "org");
    const app = checkId(req.app, "app");
    const minVersion = req.minVersion === undefined ? 0 : checkVersion(req.minVersion, "min_version");
    return this.sqlite.transaction((): ListResult => {
      const appVersion = this.getApp(org, app)?.appVersion ?? 0;
      if (appVersion < minVersion) throw staleError(appVersion, minVersion);
      const rows = this.db
        .select({
          name: t.secretHeads.name,
          version: t.secretHeads.version,
          createdAt: t.secretHeads.createdAt,
          updatedAt: t.secretHeads.updatedAt,
          digest: t.secretVersions.digest,
        })
        .from(t.secretHeads)
        .innerJoin(t.secretVersions, HEAD_VERSION)
        .where(and(eq(t.secretHeads.org, org), eq(t.secretHeads.app, app), eq(t.secretHeads.live, true)))
        .orderBy(asc(t.secretHeads.name))
        .all();
      return {
        app_version: appVersion,
        secrets: rows.map((r) => ({
          name: r.name,
          digest: formatDigest(new Uint8Array(r.digest ?? Buffer.alloc(0))),
          version: r.version,
          created_at: iso(r.createdAt),
          updated_at: iso(r.updatedAt),
        })),
      };
    })();
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

    const plain: { name: string; version: number; bytes: Uint8Array }[] = [];
    let appVersion = 0;
    let missing: string[] = [];
    try {
      this.sqlite.transaction(() => {
        const row = this.getApp(org, app);
        appVersion = row?.appVersion ?? 0;
        if (appVersion < minVersion) throw staleError(appVersion, minVersion);
        if (!row) {
          missing = wanted ?? [];
          return;
        }
        const conds = [eq(t.secretHeads.org, org), eq(t.secretHeads.app, app), eq(t.secretHeads.live, true)];
        if (wanted) conds.push(inArray(t.secretHeads.name, wanted));
        const rows = this.db
          .select({
            name: t.secretHeads.name,
            version: t.secretHeads.version,
            sealed: t.secretVersions.sealed,
          })
          .from(t.secretHeads)
          .innerJoin(t.secretVersions, HEAD_VERSION)
          .where(and(...conds))
          .orderBy(asc(t.secretHeads.name))
          .all();
        const keys = this.keysFor(org, app, row);
        for (const r of rows) {
          if (r.sealed === null) throw new PetsemError("integrity", "stored value failed authentication");
          const bytes = this.crypto.openValue(
            keys.dek,
            keys.kid,
            valueAad(org, app, r.name, r.version),
            new Uint8Array(r.sealed),
          );
          plain.push({ name: r.name, version: r.version, bytes });
        }
        const found = new Set(rows.map((r) => r.name));
        missing = (wanted ?? []).filter((n) => !found.has(n));
      })();
      this.sqlite
        .transaction(() =>
          this.appendAudit({
            ...base,
            kind: "outcome",
            detail: { ok: true, app_version: appVersion, names: plain.map((p) => p.name) },
          }),
        )
        .immediate();
    } catch (e) {
      for (const p of plain) wipe(p.bytes);
      if (!isPetsemError(e, "audit_unavailable")) {
        const code = isPetsemError(e) ? e.code : "internal";
        try {
          this.sqlite
            .transaction(() => this.appendAudit({ ...base, kind: "outcome", detail: { ok: false, code } }))
            .immediate();
        } catch {
          // already failing; nothing was returned
        }
      }
      throw toPetsemError(e);
    }
    const secrets = plain.map((p) => {
      const value = decodeUtf8(p.bytes);
      wipe(p.bytes);
      return { name: p.name, version: p.version, value };
    });
    return { app_version: appVersion, secrets, missing };
  }

  /** The current app version (0 for an app never written). */
  appVersion(org: bigint, app: bigint): number {
    return this.getApp(checkId(org, "org"), checkId(app, "app"))?.appVersion ?? 0;
  }

  /** Every app's current version (public metadata; used to report what a restore contains). */
  appVersions(): Array<{ org: string; app: string; appVersion: number }> {
    return this.db
      .select({ org: t.apps.org, app: t.apps.app, appVersion: t.apps.appVersion })
      .from(t.apps)
      .all();
  }

  /** Recomputes the audit hash chain; `brokenAt` is the first seq that does not verify. */
  verifyAuditChain(): { ok: boolean; count: number; brokenAt?: number } {
    return verifyAuditChain(this.db, this.crypto);
  }

  /** Read-only view of the audit trail (for operators and tests). */
  auditLog(): {
    seq: number;
    kind: string;
    op: string;
    org: string;
    app: string;
    requestId: string;
    detail: string;
  }[] {
    return this.db
      .select({
        seq: t.audit.seq,
        kind: t.audit.kind,
        op: t.audit.op,
        org: t.audit.org,
        app: t.audit.app,
        requestId: t.audit.requestId,
        detail: t.audit.detail,
      })
      .from(t.audit)
      .orderBy(asc(t.audit.seq))
      .all();
  }

  // ----- helpers

  private getApp(org: string, app: string): AppRow | undefined {
    return this.db
      .select()
      .from(t.apps)
      .where(and(eq(t.apps.org, org), eq(t.apps.app, app)))
      .get();
  }

  private getHead(org: string, app: string, name: string) {
    return this.db
      .select()
      .from(t.secretHeads)
      .where(and(eq(t.secretHeads.org, org), eq(t.secretHeads.app, app), eq(t.secretHeads.name, name)))
      .get();
  }

  private liveCount(org: string, app: string): number {
    const r = this.sqlite
      .prepare("SELECT count(*) AS n FROM secret_heads WHERE org = ? AND app = ? AND live = 1")
      .get(org, app) as { n: number };
    return r.n;
  }

  private getVersion(org: string, app: string, name: string, version: number) {
    return this.db
      .select()
      .from(t.secretVersions)
      .where(
        and(
          eq(t.secretVersions.org, org),
          eq(t.secretVersions.app, app),
          eq(t.secretVersions.name, name),
          eq(t.secretVersions.version, version),
        ),
      )
      .get();
  }

  private insertVersion(
    org: string,
    app: string,
    name: string,
    version: number,
    appVersion: number,
    sealed: Uint8Array | null,
    digest: Uint8Array | null,
    now: number,
  ): void {
    this.db
      .insert(t.secretVersions)
      .values({
        org,
        app,
        name,
        version,
        appVersion,
        sealed: sealed ? Buffer.from(sealed) : null,
        digest: digest ? Buffer.from(digest) : null,
        createdAt: now,
      })
      .run();
    // Retention: keep the newest LIMITS.versionsKept versions of a name; older ones are destroyed
    // (rows deleted, and secure_delete overwrites their pages), so they cannot be rolled back to.
    if (version > LIMITS.versionsKept) {
      this.sqlite
        .prepare("DELETE FROM secret_versions WHERE org = ? AND app = ? AND name = ? AND version <= ?")
        .run(org, app, name, version - LIMITS.versionsKept);
    }
  }

  private upsertHead(
    org: string,
    app: string,
    name: string,
    version: number,
    live: boolean,
    createdAt: number,
    updatedAt: number,
  ): void {
    this.db
      .insert(t.secretHeads)
      .values({ org, app, name, version, live, createdAt, updatedAt })
      .onConflictDoUpdate({
        target: [t.secretHeads.org, t.secretHeads.app, t.secretHeads.name],
        set: { version, live, updatedAt },
      })
      .run();
  }

  /**
   * The app's unwrapped key, creating the app (a random DEK, wrapped under the KEK)
   * on first write. Cached per app; a cache entry is used only while it matches the stored wrapped
   * key, so a rolled-back creation or a changed row is never served from memory.
   */
  private keysFor(org: string, app: string, row: AppRow | undefined): AppKeys {
    const cacheKey = `${org}/${app}`;
    if (!row) {
      const kid = 1;
      const dek = this.crypto.newKey();
      const wrappedDek = Buffer.from(this.crypto.wrapKey(this.kek, dek, { kind: "dek", org, app, kid }));
      this.db
        .insert(t.apps)
        .values({ org, app, appVersion: 0, kid, wrappedDek, createdAt: this.now() })
        .run();
      const keys = { wrappedDek, kid, dek };
      this.keyCache.set(cacheKey, keys);
      return keys;
    }
    const cached = this.keyCache.get(cacheKey);
    if (cached && cached.kid === row.kid && cached.wrappedDek.equals(row.wrappedDek)) return cached;
    const dek = this.crypto.unwrapKey(this.kek, new Uint8Array(row.wrappedDek), {
      kind: "dek",
      org,
      app,
      kid: row.kid,
    });
    const keys = { wrappedDek: Buffer.from(row.wrappedDek), kid: row.kid, dek };
    this.keyCache.set(cacheKey, keys);
    return keys;
  }
}

function staleError(have: number, want: number): PetsemError {
  return new PetsemError("stale", "this store is behind the requested minimum version; retry later", {
    details: { app_version: have, min_version: want },
  });
}

function toPetsemError(e: unknown): PetsemError {
  if (e instanceof PetsemError) return e;
  return new PetsemError("internal", "internal error", { cause: e });
}
