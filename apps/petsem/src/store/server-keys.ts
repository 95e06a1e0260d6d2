/**
 * Server-wide keys in the `meta` table, each wrapped under the KEK: the server key (fingerprints
 * of replayable requests; also the KEK check: a KEK that does not unwrap it is the wrong one) and
 * the macaroon root key (src/tokens.ts).
 */
import { eq } from "drizzle-orm";
import type { PetsemCrypto } from "../crypto.js";
import type { Db, Sqlite } from "../db.js";
import { hasTable } from "../db.js";
import { PetsemError } from "../errors.js";
import * as t from "../schema.js";

const SERVER_KEY = "server_key";

function wrongKek(cause: unknown, message: string): PetsemError {
  return new PetsemError("wrong_kek", message, { cause });
}

/**
 * The server key of an existing database, before anything is written (null: there is none yet).
 * A KEK that does not open it is `wrong_kek`, and the file is left exactly as it was.
 */
export function existingServerKey(sqlite: Sqlite, crypto: PetsemCrypto, kek: Uint8Array): Uint8Array | null {
  if (!hasTable(sqlite, "meta")) return null;
  const row = sqlite.prepare("SELECT value FROM meta WHERE key = ?").get(SERVER_KEY) as
    | { value: Buffer }
    | undefined;
  if (!row) return null;
  try {
    return crypto.unwrapKey(kek, new Uint8Array(row.value), { kind: "server-key" });
  } catch (cause) {
    throw wrongKek(
      cause,
      "the key-encryption key does not open this database (wrong PETSEM_KEK?); nothing was changed",
    );
  }
}

/** First open of a new database; safe against several processes creating it at once. */
export function initServerKey(sqlite: Sqlite, db: Db, crypto: PetsemCrypto, kek: Uint8Array): Uint8Array {
  return sqlite
    .transaction(() => {
      const row = db.select().from(t.meta).where(eq(t.meta.key, SERVER_KEY)).get();
      if (row) {
        try {
          return crypto.unwrapKey(kek, new Uint8Array(row.value), { kind: "server-key" });
        } catch (cause) {
          throw wrongKek(cause, "the key-encryption key does not open this database");
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

/** Returns the KEK-unwrapped meta key `name`, creating a random one on first use. */
export function metaKey(
  { sqlite, db, crypto }: { sqlite: Sqlite; db: Db; crypto: PetsemCrypto },
  kek: Uint8Array,
  name: "macaroon_root_key",
): Uint8Array {
  const purpose = { kind: "macaroon-root-key" } as const;
  return sqlite
    .transaction(() => {
      const row = db.select().from(t.meta).where(eq(t.meta.key, name)).get();
      if (row) return crypto.unwrapKey(kek, new Uint8Array(row.value), purpose);
      const key = crypto.newKey();
      db.insert(t.meta)
        .values({ key: name, value: Buffer.from(crypto.wrapKey(kek, key, purpose)) })
        .run();
      return key;
    })
    .immediate();
}
