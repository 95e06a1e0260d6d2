/**
 * What the store's parts share: the open database (raw and drizzle), the crypto, the per-app key
 * cache, the clock and the test seams; small helpers. The store (src/store.ts) owns one `StoreCore`
 * and passes it to the row, key, write and read functions in this folder.
 */
import type { PetsemCrypto } from "../crypto.js";
import type { Db, Sqlite } from "../db.js";
import { PetsemError } from "../errors.js";
import type { AppKeyCache } from "./app-keys.js";

/** Test-only seams (P23: kill -9 between the steps of a write). Never set in production. */
export interface UnsafeTestHooks {
  afterVersionRow?(index: number): void;
  beforeCommit?(): void;
}

export interface StoreCore {
  readonly db: Db;
  readonly sqlite: Sqlite;
  readonly crypto: PetsemCrypto;
  readonly keys: AppKeyCache;
  readonly now: () => number;
  readonly hooks: UnsafeTestHooks;
}

export function entriesOf<V>(m: ReadonlyMap<string, V> | Readonly<Record<string, V>>): [string, V][] {
  if (m instanceof Map) return [...m.entries()];
  if (typeof m !== "object" || m === null) throw new PetsemError("invalid_request", "expected an object");
  return Object.entries(m as Record<string, V>);
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function newRequestId(): string {
  return `local-${process.hrtime.bigint().toString(36)}`;
}

/** Stable JSON for request fingerprints: sorted keys, bigint as decimal. */
export function canonicalJson(v: unknown): string {
  if (typeof v === "bigint") return JSON.stringify(v.toString(10));
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (v instanceof Map) return canonicalJson(Object.fromEntries([...v.entries()]));
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(v as object).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
}

export function staleError(have: number, want: number): PetsemError {
  return new PetsemError("stale", "this store is behind the requested minimum version; retry later", {
    details: { app_version: have, min_version: want },
  });
}

export function toPetsemError(e: unknown): PetsemError {
  if (e instanceof PetsemError) return e;
  return new PetsemError("internal", "internal error", { cause: e });
}
