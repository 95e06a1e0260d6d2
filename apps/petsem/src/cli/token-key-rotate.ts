/**
 * `petsem token key rotate`: adds a new token signing key (src/store/token-keys.ts). New tokens
 * are signed with it at once, by every process; tokens signed by the older keys keep verifying
 * until `petsem token key retire`. Re-mint the writer and reader tokens in between (infra/KEYS.md).
 */
import { command } from "@tkdb/service";
import Database from "better-sqlite3";
import { petsemDbFile } from "../server.js";
import { listTokenKeys, rotateTokenKey } from "../store/token-keys.js";
import { SecretStore } from "../store.js";
import { petsemConfig, requireDatabase } from "./common.js";

/** Opens the store (KEK checked, migrated) and a second connection for the key rows. */
export function withTokenKeys<R>(
  ctx: Parameters<typeof petsemConfig>[0],
  fn: (sqlite: Database.Database, store: SecretStore) => R,
): R {
  const config = petsemConfig(ctx);
  const file = petsemDbFile(config);
  requireDatabase(file);
  const store = SecretStore.open({
    file,
    kek: config.kek,
    kekNext: config.kekNext,
    kekRetired: config.kekRetired,
  });
  try {
    const sqlite = new Database(file, { fileMustExist: true });
    sqlite.pragma("busy_timeout = 10000");
    try {
      return fn(sqlite, store);
    } finally {
      sqlite.close();
    }
  } finally {
    store.close();
  }
}

export const tokenKeyRotate = command({
  name: "rotate",
  description: "add a new token signing key: new tokens use it, tokens of the older keys verify until retire",
  examples: ["petsem token key rotate", "petsem token key rotate --json"],
  run: (ctx) =>
    withTokenKeys(ctx, (sqlite, store) => {
      const added = rotateTokenKey(sqlite, store.ring, () => store.crypto.newKey());
      return { added, keys: listTokenKeys(sqlite, store.ring) };
    }),
  human: (r) => `${JSON.stringify(r, null, 2)}\n`,
});
