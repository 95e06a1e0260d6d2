/**
 * Epochs (issue 14 item 2): every app version petsem reports is a pair (epoch, app_version).
 *
 * A restore (`petsem backup restore`, i.e. `restoreBackup` → verifiedRestore) or a promotion mints
 * a new epoch: 8 random bytes as hex, never reissued. Writes after a restore reuse the version
 * numbers that were lost with the old primary (the restored database only knows its own counter),
 * but in a new epoch, so the pair is never given to other contents.
 *
 * `app_epochs` records, per app, its version when it was first written in an epoch (its
 * `base_version`): the versions up to it are the ones the epoch inherited, unchanged, from the
 * epoch before. So a caller's `(min_epoch, min_version)` is checked truthfully:
 * - `min_epoch` absent or the current epoch: the app must be at `min_version` or later (`stale`
 *   otherwise: a lagging replica, retry). Without `min_epoch` petsem cannot tell a lost version
 *   from a later one of the current epoch: clients send the epoch they were given.
 * - an earlier epoch of this database's lineage: satisfied only when `min_version` is at or below
 *   the version the app had when that epoch ended (the next epoch's base for the app): those
 *   versions survived. A higher one was lost in the restore: `stale` with `lost: true` (retrying
 *   will not help; the secrets must be written again), never the other contents.
 * - an epoch this database has never had (a lost branch, or one not replicated here yet): `stale`.
 */
import { stmt } from "../db.js";
import { PetsemError } from "../errors.js";
import type { StoreCore } from "./core.js";

export type EpochReason = "initial" | "restore" | "promotion";

const EPOCH_RE = /^[0-9a-f]{16}$/;

/** `min_epoch` as the RPCs accept it: 16 lower-case hex digits. */
export function checkEpoch(v: unknown): string {
  if (typeof v !== "string" || !EPOCH_RE.test(v))
    throw new PetsemError("invalid_request", "min_epoch must be an epoch as petsem returned it");
  return v;
}

/** The current epoch (the newest row). */
export function currentEpoch({ sqlite }: Pick<StoreCore, "sqlite">): string {
  const row = stmt<{ epoch: string }>(sqlite, "SELECT epoch FROM epochs ORDER BY seq DESC LIMIT 1").get();
  if (row === undefined) throw new PetsemError("integrity", "the database has no epoch");
  return row.epoch;
}

/** Mints a new epoch (a restore or a promotion); returns it. */
export function mintEpoch(core: Pick<StoreCore, "sqlite" | "crypto" | "now">, reason: EpochReason): string {
  const epoch = Buffer.from(core.crypto.prims.randomBytes(8)).toString("hex");
  core.sqlite
    .prepare("INSERT INTO epochs (epoch, reason, created_at) VALUES (?, ?, ?)")
    .run(epoch, reason, core.now());
  return epoch;
}

/**
 * Inside a write transaction, before the write: records the app's version as its base in the
 * current epoch if this is its first write in it. Returns the current epoch.
 */
export function noteAppEpoch(
  core: Pick<StoreCore, "sqlite">,
  org: string,
  app: string,
  appVersion: number,
): string {
  const epoch = currentEpoch(core);
  stmt(
    core.sqlite,
    "INSERT OR IGNORE INTO app_epochs (org, app, epoch, base_version) VALUES (?, ?, ?, ?)",
  ).run(org, app, epoch, appVersion);
  return epoch;
}

function staleError(appVersion: number, minVersion: number, epoch: string, lost: boolean): PetsemError {
  const message = lost
    ? "the requested app version was lost in a restore (the epoch changed); write the secrets again"
    : "this store is behind the requested minimum version; retry later";
  return new PetsemError("stale", message, {
    details: { app_version: appVersion, min_version: minVersion, epoch, ...(lost ? { lost: true } : {}) },
  });
}

/**
 * Throws `stale` unless the app's state (at `appVersion` in the current epoch) includes the
 * caller's `(minEpoch, minVersion)`; see the file comment. Runs in the caller's read transaction.
 */
export function checkMinVersion(
  core: Pick<StoreCore, "sqlite">,
  org: string,
  app: string,
  appVersion: number,
  minVersion: number,
  minEpoch: string | undefined,
): string {
  const epoch = currentEpoch(core);
  if (minEpoch === undefined || minEpoch === epoch) {
    if (appVersion < minVersion) throw staleError(appVersion, minVersion, epoch, false);
    return epoch;
  }
  if (minVersion === 0) return epoch;
  const lineage = core.sqlite.prepare("SELECT seq, epoch FROM epochs ORDER BY seq").all() as {
    seq: number;
    epoch: string;
  }[];
  const at = lineage.findIndex((e) => e.epoch === minEpoch);
  if (at < 0) throw staleError(appVersion, minVersion, epoch, false);
  // The app's version when `minEpoch` ended: its base in the first later epoch it was written in,
  // or, never written since, its current version.
  const later = lineage.slice(at + 1).map((e) => e.epoch);
  const bases = core.sqlite
    .prepare(
      `SELECT epoch, base_version AS base FROM app_epochs WHERE org = ? AND app = ? AND epoch IN (${later.map(() => "?").join(",")})`,
    )
    .all(org, app, ...later) as { epoch: string; base: number }[];
  const byEpoch = new Map(bases.map((b) => [b.epoch, b.base] as const));
  const survived = later.map((e) => byEpoch.get(e)).find((b) => b !== undefined) ?? appVersion;
  if (minVersion > survived) throw staleError(appVersion, minVersion, epoch, true);
  return epoch;
}
