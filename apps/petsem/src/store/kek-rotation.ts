/**
 * `petsem kek rotate` and the restore of a backup sealed under a retired KEK (infra/KEYS.md, "KEK
 * rotation"): @tkdb/service's rotateDatabaseKek over petsem's sealed columns: every key wrapped
 * under the KEK (store/kek.ts: the server key, the token signing keys, every app's DEK) and every
 * sealed idempotency result, with the `kek_check` row, in ONE transaction, so a kill -9 leaves the
 * database under the old KEK or the new one. Secret values are under their app's DEK and are not
 * touched; readers keep being served (WAL).
 */
import { idempotencySealedColumn } from "@tkdb/audit";
import { kekRotation, type SealedColumn } from "@tkdb/service";
import Database from "better-sqlite3";
import {
  checkRole,
  createKeyring,
  dekPlace,
  KEK_CHECK,
  type KekConfig,
  metaPlace,
  readCheck,
} from "./kek.js";

export type { KekRotationOptions, KekRotationResult } from "@tkdb/service";

/** The `meta` rows that hold wrapped keys (not kek_check, not plain settings). */
const META_KEY = /^(server_key|macaroon_root_key(:[1-9]\d{0,8})?)$/;

const metaKeys: SealedColumn<{ key: string; value: Buffer }> = {
  table: "meta",
  select: "SELECT key, value FROM meta ORDER BY key",
  update: "UPDATE meta SET value = ? WHERE key = ?",
  key: (r) => [r.key],
  sealed: (r) => (META_KEY.test(r.key) ? { ...metaPlace(r.key), blob: new Uint8Array(r.value) } : undefined),
};

const dataKeys: SealedColumn<{ org: string; app: string; kid: number; wrapped_dek: Buffer }> = {
  table: "apps",
  select: "SELECT org, app, kid, wrapped_dek FROM apps ORDER BY org, app",
  update: "UPDATE apps SET wrapped_dek = ? WHERE org = ? AND app = ?",
  key: (r) => [r.org, r.app],
  sealed: (r) => ({ ...dekPlace(r.org, r.app, r.kid), blob: new Uint8Array(r.wrapped_dek) }),
};

/**
 * `rotateKek(sqlite, ring, opts)`: rewraps every wrapped key under the target KEK and writes the
 * check value, in one transaction on `sqlite` (a read-write handle of petsem's database). A key
 * that does not open stops the rotation before anything is written.
 */
export const rotateKek = kekRotation({
  // idempotency results sealed before the shared format (never released) expire within minutes
  columns: [metaKeys, dataKeys, idempotencySealedColumn({ onlySharedFormat: true })],
  check: {
    read: readCheck,
    role: checkRole,
    write: (db, value) =>
      db
        .prepare(
          "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .run(KEK_CHECK, Buffer.from(value)),
  },
});

/**
 * After a restore: if the copy's check names a retired KEK, rotate it onto the current KEK (one
 * transaction, on the private copy before it is put in place). Otherwise nothing changes.
 */
export function moveOffRetiredKek(file: string, keks: KekConfig): void {
  const ring = createKeyring(keks);
  const sqlite = new Database(file, { fileMustExist: true });
  try {
    const check = readCheck(sqlite);
    if (check === undefined || checkRole(ring, check).role !== "retired") return;
    rotateKek(sqlite, ring, { to: ring.current });
  } finally {
    sqlite.close();
    ring.destroy();
  }
}
