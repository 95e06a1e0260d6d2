/**
 * Per-app data keys (DEKs): random, wrapped under the KEK in the app's row with the shared
 * keyring (store/kek.ts, purpose `data-key`, bound to org, app and kid; bea118d's wraps still
 * open), unwrapped on use and cached. A cache entry is used only while it matches the stored
 * wrapped key, so a rolled-back creation, a changed row or a KEK rotation's rewrap is never
 * served from memory.
 */
import { Keyring } from "@tkdb/service";
import type { PetsemCrypto } from "../crypto.js";
import { wipe } from "../crypto.js";
import type { Db, Sqlite } from "../db.js";
import * as t from "../schema.js";
import { dekPlace, sealingKid, unwrapAt, wrapAt } from "./kek.js";
import type { AppRow } from "./rows.js";

export interface AppKeys {
  readonly wrappedDek: Buffer;
  readonly kid: number;
  readonly dek: Uint8Array;
  /** a keyring built from the DEK: seals and opens the app's values (store/values.ts) */
  readonly values: Keyring;
}

export class AppKeyCache {
  private readonly cache = new Map<string, AppKeys>();

  constructor(
    private readonly db: Db,
    private readonly sqlite: Sqlite,
    private readonly crypto: PetsemCrypto,
    /** the store's keyring (the store destroys it on close) */
    private readonly ring: Keyring,
    private readonly now: () => number,
  ) {}

  /** The app's unwrapped key, creating the app (a random DEK, wrapped under the KEK) on first write. */
  keysFor(org: string, app: string, row: AppRow | undefined): AppKeys {
    const cacheKey = `${org}/${app}`;
    if (!row) {
      const kid = 1;
      const dek = this.crypto.newKey();
      const wrappedDek = wrapAt(this.ring, sealingKid(this.ring, this.sqlite), dekPlace(org, app, kid), dek);
      this.db
        .insert(t.apps)
        .values({ org, app, appVersion: 0, kid, wrappedDek, createdAt: this.now() })
        .run();
      const keys = { wrappedDek, kid, dek, values: Keyring.create({ current: dek }) };
      this.cache.set(cacheKey, keys);
      return keys;
    }
    const cached = this.cache.get(cacheKey);
    if (cached && cached.kid === row.kid && cached.wrappedDek.equals(row.wrappedDek)) return cached;
    const dek = unwrapAt(this.ring, dekPlace(org, app, row.kid), new Uint8Array(row.wrappedDek));
    const keys = {
      wrappedDek: Buffer.from(row.wrappedDek),
      kid: row.kid,
      dek,
      values: Keyring.create({ current: dek }),
    };
    if (cached) this.forget(cached);
    this.cache.set(cacheKey, keys);
    return keys;
  }

  /** Wipes every cached DEK. */
  clear(): void {
    for (const k of this.cache.values()) this.forget(k);
    this.cache.clear();
  }

  private forget(k: AppKeys): void {
    wipe(k.dek);
    k.values.destroy();
  }
}
