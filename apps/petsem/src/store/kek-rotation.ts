/**
 * `petsem kek rotate` and the restore of a backup sealed under a retired KEK: every key wrapped
 * under the KEK (store/kek.ts: the server key, the token signing keys, every app's DEK) and every
 * sealed idempotency result rewrapped
 * under the target KEK, and the `kek_check` row written, in ONE `BEGIN IMMEDIATE` transaction
 * (infra/KEYS.md, "KEK rotation"). SQLite's journal makes it atomic: a kill -9 at any point leaves
 * the database as it was (it opens with the old KEK) or rotated (it opens with the new one).
 * Secret values are under their app's DEK and are not touched; readers keep being served (WAL).
 */
import { canonicalJson } from "@tkdb/audit";
import {
  type KeyId,
  type Keyring,
  planRotation,
  type RotationCounts,
  type SealedRecord,
} from "@tkdb/service";
import Database from "better-sqlite3";
import type { Sqlite } from "../db.js";
import { hasTable } from "../db.js";
import { PetsemError } from "../errors.js";
import {
  checkRole,
  createKeyring,
  dekPlace,
  KEK_CHECK,
  type KekConfig,
  metaPlace,
  readCheck,
} from "./kek.js";

export interface KekRotationResult {
  /** the KEK the database was under */
  from: KeyId;
  /** the KEK everything is under now (unchanged when `dryRun`) */
  to: KeyId;
  dryRun: boolean;
  counts: RotationCounts;
}

export interface KekRotationOptions {
  /** plan and count, write nothing */
  dryRun?: boolean;
  /** the target (default: PETSEM_KEK_NEXT when set, else PETSEM_KEK) */
  to?: KeyId;
  /** Test seam: called after each row is written, inside the transaction. Never set in production. */
  afterWrite?: (written: number, total: number) => void;
}

type Ref =
  | { table: "meta"; key: string }
  | { table: "apps"; org: string; app: string }
  | { table: "idempotency_records"; clientKey: string; rid: string };

const utf8 = new TextEncoder();

const META_KEY = /^(server_key|macaroon_root_key(:[1-9]\d{0,8})?)$/;

function* sealedRecords(sqlite: Sqlite): Generator<SealedRecord<Ref>> {
  const meta = sqlite.prepare("SELECT key, value FROM meta ORDER BY key").all() as {
    key: string;
    value: Buffer;
  }[];
  for (const r of meta) {
    if (!META_KEY.test(r.key)) continue; // kek_check and plain settings
    const place = metaPlace(r.key);
    yield { ref: { table: "meta", key: r.key }, ...place, blob: new Uint8Array(r.value) };
  }
  if (!hasTable(sqlite, "apps")) return;
  const apps = sqlite.prepare("SELECT org, app, kid, wrapped_dek FROM apps ORDER BY org, app").all() as {
    org: string;
    app: string;
    kid: number;
    wrapped_dek: Buffer;
  }[];
  for (const r of apps) {
    const place = dekPlace(r.org, r.app, r.kid);
    yield { ref: { table: "apps", org: r.org, app: r.app }, ...place, blob: new Uint8Array(r.wrapped_dek) };
  }
  if (!hasTable(sqlite, "idempotency_records")) return;
  const recs = sqlite
    .prepare("SELECT client_key, rid, op, sealed_result FROM idempotency_records ORDER BY client_key, rid")
    .all() as { client_key: string; rid: string; op: string; sealed_result: Buffer }[];
  for (const r of recs) {
    // Only the shared format: records sealed otherwise (before this format, never released) expire
    // within minutes and are left as they are.
    if (r.sealed_result[0] !== 0x02) continue;
    // the AAD @tkdb/audit's IdempotencyRecords seals with (store/mutate.ts binds it as the row)
    const aad = utf8.encode(canonicalJson(["tkdb.idempotency.v1", r.client_key, r.rid, r.op]));
    yield {
      ref: { table: "idempotency_records", clientKey: r.client_key, rid: r.rid },
      purpose: "idempotency-result",
      binding: { table: "idempotency_records", column: "sealed_result", row: [aad] },
      blob: new Uint8Array(r.sealed_result),
    };
  }
}

/**
 * Rewraps every wrapped key under the target KEK and writes the check value, in one transaction
 * on `sqlite` (a read-write handle of petsem's database). A key that does not open stops the
 * rotation before anything is written.
 */
export function rotateKek(sqlite: Sqlite, ring: Keyring, opts: KekRotationOptions = {}): KekRotationResult {
  return sqlite
    .transaction((): KekRotationResult => {
      const check = readCheck(sqlite);
      if (check === undefined)
        throw new PetsemError("not_found", "this database has no wrapped keys yet (never opened by petsem)");
      const from = checkRole(ring, check).kid;
      const plan = planRotation(ring, sealedRecords(sqlite), opts.to === undefined ? {} : { to: opts.to });
      const dryRun = opts.dryRun === true;
      if (dryRun) return { from, to: from, dryRun, counts: plan.counts };
      const meta = sqlite.prepare("UPDATE meta SET value = ? WHERE key = ?");
      const apps = sqlite.prepare("UPDATE apps SET wrapped_dek = ? WHERE org = ? AND app = ?");
      const records = sqlite.prepare(
        "UPDATE idempotency_records SET sealed_result = ? WHERE client_key = ? AND rid = ?",
      );
      let written = 0;
      for (const u of plan.updates) {
        const blob = Buffer.from(u.blob);
        const n =
          u.ref.table === "meta"
            ? meta.run(blob, u.ref.key).changes
            : u.ref.table === "apps"
              ? apps.run(blob, u.ref.org, u.ref.app).changes
              : records.run(blob, u.ref.clientKey, u.ref.rid).changes;
        if (n !== 1) throw new PetsemError("conflict", "a wrapped key changed during the rotation");
        opts.afterWrite?.(++written, plan.updates.length);
      }
      sqlite
        .prepare(
          "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .run(KEK_CHECK, Buffer.from(plan.checkValue));
      return { from, to: plan.target, dryRun, counts: plan.counts };
    })
    .immediate();
}

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
