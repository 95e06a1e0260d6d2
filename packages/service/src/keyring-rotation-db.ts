/**
 * `tkdb kek rotate`, `petsem kek rotate` and the restore of a backup sealed under a retired KEK,
 * on a SQLite database (better-sqlite3, which the app passes in): every sealed column the app
 * lists rewrapped under the target KEK by `planRotation`, and the check value switched, in ONE
 * `BEGIN IMMEDIATE` transaction. SQLite's journal makes the transaction atomic: a kill -9 at any
 * point leaves the database as it was (it opens with the old KEK) or rotated (it opens with the new
 * one), never a mix the check value does not describe. Readers (WAL) keep being served during it;
 * writers wait for it. The app keeps only its list of sealed columns and how it reads and writes
 * its check value (README "Keyring" has the whole procedure).
 */
import type BetterSqlite3 from "better-sqlite3";
import { ServiceError } from "./errors.js";
import type { KekInfo, KeyId, Keyring } from "./keyring.js";
import { planRotation, type RotationCounts, type SealedRecord } from "./keyring-rotation.js";

type Db = BetterSqlite3.Database;

/**
 * One sealed column of the app's schema. Declared with method syntax so a list may hold columns
 * of different row types.
 */
export interface SealedColumn<Row> {
  /** The table; a database without it (made before it existed) is skipped. */
  readonly table: string;
  /** SELECT of the rows, in a stable order. */
  readonly select: string;
  /** `UPDATE … SET <column> = ? WHERE …`: bound to the new blob, then to `key(row)`. */
  readonly update: string;
  /** The values of the update's WHERE clause for this row. */
  key(row: Row): unknown[];
  /** The row's sealed field (purpose, binding, blob, bea118d format), or undefined to leave it. */
  sealed(row: Row): Omit<SealedRecord<unknown>, "ref"> | undefined;
}

/** How the app reads, checks and writes its KEK check value. */
export interface KekCheckAccess<C> {
  /** The check value, or undefined when the database has none (never initialized). */
  read(db: Db): C | undefined;
  /** Which configured KEK it is under; throws the app's `wrong_kek` when none opens it. */
  role(ring: Keyring, check: C): KekInfo;
  /** Writes the target's check value, in the rotation's transaction. */
  write(db: Db, value: Uint8Array): void;
}

export interface DatabaseRotationSpec<C> {
  readonly columns: readonly SealedColumn<never>[];
  readonly check: KekCheckAccess<C>;
}

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
  /** the target (default: the keyring's rotation target: `*_KEK_NEXT` when set, else `*_KEK`) */
  to?: KeyId;
  /** Test seam: called after each row is written, inside the transaction. Never set in production. */
  afterWrite?: (written: number, total: number) => void;
}

interface Ref {
  readonly column: number;
  readonly key: unknown[];
}

function hasTable(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

function* sealedRecords(db: Db, columns: readonly SealedColumn<never>[]): Generator<SealedRecord<Ref>> {
  for (const [i, col] of columns.entries()) {
    if (!hasTable(db, col.table)) continue;
    for (const row of db.prepare(col.select).all() as never[]) {
      const sealed = col.sealed(row);
      if (sealed !== undefined) yield { ...sealed, ref: { column: i, key: col.key(row) } };
    }
  }
}

/**
 * Rewraps every sealed field of `spec.columns` under the target KEK and writes the check value,
 * in one transaction on `db` (read-write). A field that does not open stops the rotation before
 * anything is written; `not_found` when the database has no check value.
 */
export function rotateDatabaseKek<C>(
  db: Db,
  ring: Keyring,
  spec: DatabaseRotationSpec<C>,
  opts: KekRotationOptions = {},
): KekRotationResult {
  return db
    .transaction((): KekRotationResult => {
      const check = spec.check.read(db);
      if (check === undefined)
        throw new ServiceError("not_found", "this database has no KEK check value (never initialized)");
      const from = spec.check.role(ring, check).kid;
      const plan = planRotation(
        ring,
        sealedRecords(db, spec.columns),
        opts.to === undefined ? {} : { to: opts.to },
      );
      const dryRun = opts.dryRun === true;
      if (dryRun) return { from, to: from, dryRun, counts: plan.counts };
      // prepared on first use: a table the database does not have has no updates
      const updates = new Map<number, BetterSqlite3.Statement>();
      const update = (column: number) => {
        let st = updates.get(column);
        if (st === undefined) {
          st = db.prepare((spec.columns[column] as SealedColumn<never>).update);
          updates.set(column, st);
        }
        return st;
      };
      let written = 0;
      for (const u of plan.updates) {
        const n = update(u.ref.column).run(Buffer.from(u.blob), ...u.ref.key).changes;
        if (n !== 1) throw new ServiceError("conflict", "a sealed row changed during the rotation");
        opts.afterWrite?.(++written, plan.updates.length);
      }
      spec.check.write(db, plan.checkValue);
      return { from, to: plan.target, dryRun, counts: plan.counts };
    })
    .immediate();
}

/** `rotateDatabaseKek` bound to an app's columns and check row: the app's `rotateKek(db, ring, opts)`. */
export function kekRotation<C>(
  spec: DatabaseRotationSpec<C>,
): (db: Db, ring: Keyring, opts?: KekRotationOptions) => KekRotationResult {
  return (db, ring, opts = {}) => rotateDatabaseKek(db, ring, spec, opts);
}
