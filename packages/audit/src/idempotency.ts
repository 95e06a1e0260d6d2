/**
 * Idempotency records for mutations, one implementation for tkdb and petsem (issue 13).
 *
 * A record is keyed by (client key, rid) and holds: the op; a keyed fingerprint of op and the
 * canonical arguments (the app's `fingerprint`, an HMAC under a KEK subkey, so the record reveals
 * nothing about the arguments); and the result SEALED by the app's `seal` with associated data
 * binding it to (client key, rid, op), so a result can neither be read nor moved to another
 * request without the KEK. Never a token in the clear.
 *
 * - Same (client key, rid), same op and arguments: the stored result (the client's retry).
 * - Same (client key, rid), anything else: `idempotency_mismatch`, nothing changes.
 * - Expiry: `ttlMs`, default 10 minutes. Why 10: a record only has to outlive the client's retries
 *   of one request. @tkdb/client retries 3 times per endpoint with 5 s timeouts and backoff capped
 *   at 2 s (about 20 s per endpoint, about a minute over three regions), and @tkdb/noise refuses a
 *   request stamped more than 60 s from the server's clock. Ten minutes covers that horizon ten
 *   times over while keeping sealed results, which may hold tokens, on disk for minutes, not a day.
 * - Bound: at most `maxPerClient` live records per client key (default 10 000, 16 mutations a
 *   second sustained over the TTL). A client over it is refused with `unavailable` before any
 *   effect; nothing is ever evicted early, since eviction would turn a retry into a second effect.
 * - Pruning of expired rows only on the primary (`isPrimary`); replicas receive deletions
 *   through replication. Lookups treat an expired row as absent either way.
 *
 * All calls are synchronous better-sqlite3 statements, meant to run inside the app's write
 * transaction (lookup, effect, store, commit together).
 */
import type Database from "better-sqlite3";
import { canonicalJson } from "./canonical.js";
import { AuditError } from "./errors.js";

export const IDEMPOTENCY_TABLE = "idempotency_records";

/** The table, as an app's migration creates it (see IDEMPOTENCY_MIGRATION_SQL). */
export const IDEMPOTENCY_DDL = `CREATE TABLE IF NOT EXISTS ${IDEMPOTENCY_TABLE} (
  client_key TEXT NOT NULL,
  rid TEXT NOT NULL,
  op TEXT NOT NULL,
  fingerprint BLOB NOT NULL,
  sealed_result BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (client_key, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ${IDEMPOTENCY_TABLE}_expires ON ${IDEMPOTENCY_TABLE} (expires_at);
CREATE INDEX IF NOT EXISTS ${IDEMPOTENCY_TABLE}_client ON ${IDEMPOTENCY_TABLE} (client_key, expires_at);`;

/** The same DDL as a drizzle-kit migration file (statements split by its breakpoint marker). */
export const IDEMPOTENCY_MIGRATION_SQL = IDEMPOTENCY_DDL.split(";\n")
  .map((s) => s.replace(/;$/, ""))
  .join(";\n--> statement-breakpoint\n")
  .concat(";\n");

export interface IdempotencyCrypto {
  /** Keyed fingerprint (e.g. HMAC-SHA-256 under a KEK subkey) of op and the canonical arguments. */
  fingerprint(op: string, canonicalArgs: string): Uint8Array;
  /** AEAD seal under a KEK subkey; `aad` binds client key, rid and op. */
  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** The inverse; throws (or returns null) when the record does not authenticate. */
  open(sealed: Uint8Array, aad: Uint8Array): Uint8Array | null;
}

export interface IdempotencyOptions {
  readonly crypto: IdempotencyCrypto;
  readonly ttlMs?: number;
  readonly maxPerClient?: number;
  readonly clock?: () => number;
  /** Pruning happens only where this says true (LiteFS: the primary). Default: always. */
  readonly isPrimary?: () => boolean;
}

export const DEFAULT_IDEMPOTENCY_TTL_MS = 10 * 60 * 1000;
export const DEFAULT_MAX_PER_CLIENT = 10_000;

/** A lookup: the stored result of the same request, or a miss with what `store` needs. */
export type Lookup<R> =
  | { readonly hit: true; readonly result: R }
  | { readonly hit: false; readonly fingerprint: Uint8Array };

interface Row {
  op: string;
  fingerprint: Buffer;
  sealed_result: Buffer;
}

const RID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const CLIENT_KEY = /^[A-Za-z0-9][A-Za-z0-9_.:@+/=-]{0,127}$/;
const OP = /^[a-z][a-z0-9_.]{0,63}$/;

/** The associated data a record's result is sealed with (a KEK rotation rebinds it: idempotency-column.ts). */
export function aad(clientKey: string, rid: string, op: string): Uint8Array {
  return new TextEncoder().encode(canonicalJson(["tkdb.idempotency.v1", clientKey, rid, op]));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

export class IdempotencyRecords {
  private readonly ttlMs: number;
  private readonly maxPerClient: number;
  private readonly clock: () => number;
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly opts: IdempotencyOptions,
  ) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
    this.maxPerClient = opts.maxPerClient ?? DEFAULT_MAX_PER_CLIENT;
    this.clock = opts.clock ?? Date.now;
    if (!(Number.isSafeInteger(this.ttlMs) && this.ttlMs > 0))
      throw new AuditError("invalid_request", "ttlMs must be positive");
    if (!(Number.isSafeInteger(this.maxPerClient) && this.maxPerClient > 0))
      throw new AuditError("invalid_request", "maxPerClient must be positive");
    const t = IDEMPOTENCY_TABLE;
    this.stmts = {
      get: db.prepare<[string, string, number], Row>(
        `SELECT op, fingerprint, sealed_result FROM ${t} WHERE client_key = ? AND rid = ? AND expires_at > ?`,
      ),
      live: db.prepare<[string, number], { n: number }>(
        `SELECT count(*) AS n FROM ${t} WHERE client_key = ? AND expires_at > ?`,
      ),
      put: db.prepare(
        `INSERT INTO ${t} (client_key, rid, op, fingerprint, sealed_result, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (client_key, rid) DO UPDATE SET op = excluded.op, fingerprint = excluded.fingerprint,
           sealed_result = excluded.sealed_result, created_at = excluded.created_at, expires_at = excluded.expires_at
         WHERE ${t}.expires_at <= excluded.created_at`,
      ),
      prune: db.prepare<[number, number]>(
        `DELETE FROM ${t} WHERE (client_key, rid) IN (SELECT client_key, rid FROM ${t} WHERE expires_at <= ? LIMIT ?)`,
      ),
    };
  }

  private check(clientKey: string, rid: string, op: string): void {
    if (typeof clientKey !== "string" || !CLIENT_KEY.test(clientKey))
      throw new AuditError("invalid_request", "bad idempotency client key");
    if (typeof rid !== "string" || !RID.test(rid)) throw new AuditError("invalid_request", "bad request id");
    if (typeof op !== "string" || !OP.test(op)) throw new AuditError("invalid_request", "bad op name");
  }

  /**
   * The stored result of this request, or a miss. Throws `idempotency_mismatch` for the same rid
   * with another op or other arguments, and `unavailable` on a miss when the client is at its
   * bound (checked here, before the effect, and again in `store`).
   */
  lookup<R>(clientKey: string, rid: string, op: string, args: unknown): Lookup<R> {
    this.check(clientKey, rid, op);
    const fingerprint = this.opts.crypto.fingerprint(op, canonicalJson(args));
    const now = this.clock();
    const row = this.stmts.get.get(clientKey, rid, now);
    if (row === undefined) {
      this.checkBound(clientKey, now);
      return { hit: false, fingerprint };
    }
    if (row.op !== op || !equalBytes(new Uint8Array(row.fingerprint), fingerprint))
      throw new AuditError("idempotency_mismatch", "this request id was used for another request");
    const plain = this.opts.crypto.open(new Uint8Array(row.sealed_result), aad(clientKey, rid, op));
    if (plain === null) throw new AuditError("integrity", "an idempotency record does not authenticate");
    return { hit: true, result: JSON.parse(new TextDecoder().decode(plain)) as R };
  }

  /** Stores the result of a miss (in the same transaction as the effect). */
  store(
    clientKey: string,
    rid: string,
    op: string,
    miss: { fingerprint: Uint8Array },
    result: unknown,
  ): void {
    this.check(clientKey, rid, op);
    const now = this.clock();
    this.checkBound(clientKey, now);
    const plain = new TextEncoder().encode(canonicalJson(result, { bigint: "refuse" }));
    const sealed = this.opts.crypto.seal(plain, aad(clientKey, rid, op));
    const r = this.stmts.put.run(clientKey, rid, op, miss.fingerprint, sealed, now, now + this.ttlMs);
    if (r.changes !== 1) throw new AuditError("conflict", "a live record already holds this request id");
  }

  /** Deletes expired records, at most `limit` per call; 0 on a replica. */
  prune(limit = 10_000): number {
    if (this.opts.isPrimary !== undefined && !this.opts.isPrimary()) return 0;
    return this.stmts.prune.run(this.clock(), limit).changes;
  }

  private checkBound(clientKey: string, now: number): void {
    const n = this.stmts.live.get(clientKey, now)?.n ?? 0;
    if (n >= this.maxPerClient)
      throw new AuditError("unavailable", "this client has too many recent requests in flight; retry later");
  }
}
