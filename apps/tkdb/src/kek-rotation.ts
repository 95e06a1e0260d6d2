/**
 * `tkdb kek rotate` and the restore of a backup sealed under a retired KEK: every sealed field of
 * the database rewrapped under the target KEK, and the check value switched, in ONE
 * `BEGIN IMMEDIATE` transaction (infra/KEYS.md, "KEK rotation"). SQLite's journal makes the
 * transaction atomic: a kill -9 at any point leaves the database as it was (it opens with the old
 * KEK) or rotated (it opens with the new one), never a mix the check value does not describe.
 * Readers (WAL) keep being served during it; writers wait for it; every process seals under the
 * new KEK as soon as it commits (the check value is read in each write transaction).
 *
 * Sealed fields (crypto.ts has the table): `root_keys.sealed_key` (bea118d's format included) and
 * `idempotency_records.sealed_result`. Keyed fingerprints cannot be recomputed (their arguments
 * are not stored); they carry the kid of the KEK that made them and age out in minutes.
 */
import { canonicalJson } from "@tkdb/audit";
import {
  type KeyId,
  type Keyring,
  planRotation,
  type RotationCounts,
  type SealedRecord,
} from "@tkdb/service";
import type Database from "better-sqlite3";
import { kekCheckRole, legacyRootKey, rootKeyAt } from "./crypto.js";
import { TkdbError } from "./errors.js";

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
  /** the target (default: TKDB_KEK_NEXT when set, else TKDB_KEK) */
  to?: KeyId;
  /** Test seam: called after each row is written, inside the transaction. Never set in production. */
  afterWrite?: (written: number, total: number) => void;
}

type Ref =
  | { table: "root_keys"; org: string }
  | { table: "idempotency_records"; clientKey: string; rid: string };

const utf8 = new TextEncoder();

function hasTable(sqlite: Database.Database, name: string): boolean {
  return (
    sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined
  );
}

/** The AAD @tkdb/audit's IdempotencyRecords gives `seal` for a record (crypto.ts binds it as the row). */
function idempotencyAad(clientKey: string, rid: string, op: string): Uint8Array {
  return utf8.encode(canonicalJson(["tkdb.idempotency.v1", clientKey, rid, op]));
}

function* sealedRecords(sqlite: Database.Database): Generator<SealedRecord<Ref>> {
  const keys = sqlite.prepare("SELECT org, kid, sealed_key FROM root_keys ORDER BY org").all() as {
    org: string;
    kid: Buffer;
    sealed_key: Buffer;
  }[];
  for (const r of keys) {
    const kid = new Uint8Array(r.kid);
    yield {
      ref: { table: "root_keys", org: r.org },
      purpose: "root-key",
      binding: rootKeyAt(r.org, kid),
      blob: new Uint8Array(r.sealed_key),
      legacy: legacyRootKey(r.org, kid),
    };
  }
  if (!hasTable(sqlite, "idempotency_records")) return;
  const recs = sqlite
    .prepare("SELECT client_key, rid, op, sealed_result FROM idempotency_records ORDER BY client_key, rid")
    .all() as { client_key: string; rid: string; op: string; sealed_result: Buffer }[];
  for (const r of recs) {
    yield {
      ref: { table: "idempotency_records", clientKey: r.client_key, rid: r.rid },
      purpose: "idempotency-result",
      binding: {
        table: "idempotency_records",
        column: "sealed_result",
        row: [idempotencyAad(r.client_key, r.rid, r.op)],
      },
      blob: new Uint8Array(r.sealed_result),
    };
  }
}

/**
 * Rewraps every sealed field under the target KEK and switches the check value, in one
 * transaction on `sqlite` (a read-write handle of tkdb's database). A record that does not open
 * stops the rotation before anything is written.
 */
export function rotateKek(
  sqlite: Database.Database,
  ring: Keyring,
  opts: KekRotationOptions = {},
): KekRotationResult {
  return sqlite
    .transaction((): KekRotationResult => {
      const check = sqlite.prepare("SELECT value FROM meta WHERE name = 'kek_check'").get() as
        | { value: Buffer }
        | undefined;
      if (check === undefined)
        throw new TkdbError("corrupt", "this database has no KEK check value (not initialized)");
      const from = kekCheckRole(ring, new Uint8Array(check.value)).kid;
      const plan = planRotation(ring, sealedRecords(sqlite), opts.to === undefined ? {} : { to: opts.to });
      const dryRun = opts.dryRun === true;
      if (dryRun) return { from, to: from, dryRun, counts: plan.counts };
      const rootKey = sqlite.prepare("UPDATE root_keys SET sealed_key = ? WHERE org = ?");
      const record = sqlite.prepare(
        "UPDATE idempotency_records SET sealed_result = ? WHERE client_key = ? AND rid = ?",
      );
      let written = 0;
      for (const u of plan.updates) {
        const blob = Buffer.from(u.blob);
        const n =
          u.ref.table === "root_keys"
            ? rootKey.run(blob, u.ref.org).changes
            : record.run(blob, u.ref.clientKey, u.ref.rid).changes;
        if (n !== 1) throw new TkdbError("storage", "a sealed row changed during the rotation");
        opts.afterWrite?.(++written, plan.updates.length);
      }
      sqlite.prepare("UPDATE meta SET value = ? WHERE name = 'kek_check'").run(Buffer.from(plan.checkValue));
      return { from, to: plan.target, dryRun, counts: plan.counts };
    })
    .immediate();
}
