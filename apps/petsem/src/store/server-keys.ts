/**
 * Server-wide keys in the `meta` table, each wrapped under the KEK with the shared keyring
 * (store/kek.ts): the server key (fingerprints of replayable requests) and the token signing keys
 * (`macaroon_root_key`, and `macaroon_root_key:<n>` added by `petsem token key rotate`). The
 * `kek_check` row says which KEK the database is under (a bea118d database has none: its wrapped
 * server key is the check until `petsem kek rotate`).
 */
import type { Keyring } from "@tkdb/service";
import { eq } from "drizzle-orm";
import type { Db, Sqlite } from "../db.js";
import { hasTable } from "../db.js";
import * as t from "../schema.js";
import {
  checkRole,
  KEK_CHECK,
  metaPlace,
  readCheck,
  SERVER_KEY,
  sealingKid,
  unwrapAt,
  wrapAt,
} from "./kek.js";

/**
 * The server key of an existing database, before anything is written (null: there is none yet).
 * A database no configured KEK opens is `wrong_kek`, and the file is left exactly as it was.
 */
export function existingServerKey(sqlite: Sqlite, ring: Keyring): Uint8Array | null {
  if (!hasTable(sqlite, "meta")) return null;
  const check = readCheck(sqlite);
  if (check === undefined) return null;
  checkRole(ring, check);
  const row = sqlite.prepare("SELECT value FROM meta WHERE key = ?").get(SERVER_KEY) as
    | { value: Buffer }
    | undefined;
  return row === undefined ? null : unwrapAt(ring, metaPlace(SERVER_KEY), new Uint8Array(row.value));
}

/** First open of a new database; safe against several processes creating it at once. */
export function initServerKey(sqlite: Sqlite, db: Db, ring: Keyring, newKey: () => Uint8Array): Uint8Array {
  return sqlite
    .transaction(() => {
      const row = db.select().from(t.meta).where(eq(t.meta.key, SERVER_KEY)).get();
      if (row) {
        const check = readCheck(sqlite);
        if (check !== undefined) checkRole(ring, check);
        return unwrapAt(ring, metaPlace(SERVER_KEY), new Uint8Array(row.value));
      }
      const key = newKey();
      if (readCheck(sqlite) === undefined)
        db.insert(t.meta)
          .values({ key: KEK_CHECK, value: Buffer.from(ring.checkValue()) })
          .run();
      const kid = sealingKid(ring, sqlite);
      db.insert(t.meta)
        .values({ key: SERVER_KEY, value: wrapAt(ring, kid, metaPlace(SERVER_KEY), key) })
        .run();
      return key;
    })
    .immediate();
}

/** Returns the KEK-unwrapped meta key `name`, creating a random one on first use. */
export function metaKey(
  { sqlite, db }: { sqlite: Sqlite; db: Db },
  ring: Keyring,
  name: string,
  newKey: () => Uint8Array,
): Uint8Array {
  const place = metaPlace(name);
  return sqlite
    .transaction(() => {
      const row = db.select().from(t.meta).where(eq(t.meta.key, name)).get();
      if (row) return unwrapAt(ring, place, new Uint8Array(row.value));
      const key = newKey();
      db.insert(t.meta)
        .values({ key: name, value: wrapAt(ring, sealingKid(ring, sqlite), place, key) })
        .run();
      return key;
    })
    .immediate();
}
