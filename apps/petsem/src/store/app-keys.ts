/**
 * Per-app data keys (DEKs): random, wrapped under the KEK in the app's row, unwrapped on use and
 * cached. A cache entry is used only while it matches the stored wrapped key, so a rolled-back
 * creation or a changed row is never served from memory.
 */
import type { PetsemCrypto } from "../crypto.js";
import { wipe } from "../crypto.js";
import type { Db } from "../db.js";
import * as t from "../schema.js";
import type { AppRow } from "./rows.js";

export interface AppKeys {
  readonly wrappedDek: Buffer;
  readonly kid: number;
  readonly dek: Uint8Array;
}

export class AppKeyCache {
  private readonly cache = new Map<string, AppKeys>();

  constructor(
    private readonly db: Db,
    private readonly crypto: PetsemCrypto,
    /** the store's KEK (the store wipes it on close) */
    private readonly kek: Uint8Array,
    private readonly now: () => number,
  ) {}

  /** The app's unwrapped key, creating the app (a random DEK, wrapped under the KEK) on first write. */
  keysFor(org: string, app: string, row: AppRow | undefined): AppKeys {
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
      this.cache.set(cacheKey, keys);
      return keys;
    }
    const cached = this.cache.get(cacheKey);
    if (cached && cached.kid === row.kid && cached.wrappedDek.equals(row.wrappedDek)) return cached;
    const dek = this.crypto.unwrapKey(this.kek, new Uint8Array(row.wrappedDek), {
      kind: "dek",
      org,
      app,
      kid: row.kid,
    });
    const keys = { wrappedDek: Buffer.from(row.wrappedDek), kid: row.kid, dek };
    this.cache.set(cacheKey, keys);
    return keys;
  }

  /** Wipes every cached DEK. */
  clear(): void {
    for (const k of this.cache.values()) wipe(k.dek);
    this.cache.clear();
  }
}
