/**
 * `tkdb kek rotate` and the restore of a backup sealed under a retired KEK (infra/KEYS.md, "KEK
 * rotation"): @tkdb/service's rotateDatabaseKek over tkdb's sealed columns (crypto.ts has the
 * table): `root_keys.sealed_key` (bea118d's format included) and
 * `idempotency_records.sealed_result`, with the `meta` row `kek_check`, in ONE transaction, so a
 * kill -9 leaves the database under the old KEK or the new one. Keyed fingerprints cannot be
 * recomputed (their arguments are not stored); they carry their KEK's kid and age out in minutes.
 */
import { idempotencySealedColumn } from "@tkdb/audit";
import { kekRotation, type SealedColumn } from "@tkdb/service";
import { kekCheckRole, legacyRootKey, rootKeyAt } from "./crypto.js";

export type { KekRotationOptions, KekRotationResult } from "@tkdb/service";

const rootKeys: SealedColumn<{ org: string; kid: Buffer; sealed_key: Buffer }> = {
  table: "root_keys",
  select: "SELECT org, kid, sealed_key FROM root_keys ORDER BY org",
  update: "UPDATE root_keys SET sealed_key = ? WHERE org = ?",
  key: (r) => [r.org],
  sealed: (r) => ({
    purpose: "root-key",
    binding: rootKeyAt(r.org, new Uint8Array(r.kid)),
    blob: new Uint8Array(r.sealed_key),
    legacy: legacyRootKey(r.org, new Uint8Array(r.kid)),
  }),
};

/**
 * `rotateKek(sqlite, ring, opts)`: rewraps every sealed field under the target KEK and switches
 * the check value, in one transaction on `sqlite` (a read-write handle of tkdb's database). A
 * record that does not open stops the rotation before anything is written.
 */
export const rotateKek = kekRotation({
  columns: [rootKeys, idempotencySealedColumn()],
  check: {
    read: (db) =>
      (db.prepare("SELECT value FROM meta WHERE name = 'kek_check'").get() as { value: Buffer } | undefined)
        ?.value,
    role: (ring, check) => kekCheckRole(ring, new Uint8Array(check)),
    write: (db, value) =>
      db.prepare("UPDATE meta SET value = ? WHERE name = 'kek_check'").run(Buffer.from(value)),
  },
});
