/**
 * KEK rotation on the shared format: compute, for every sealed field of a database, its blob under
 * the target KEK, and the target's check value. Pure (no database): the app's `kek rotate` reads
 * the rows and writes the plan back inside ONE SQLite transaction, check value included, so a
 * kill -9 at any point leaves either the old state (opens with the old KEK) or the new one (opens
 * with the new KEK), never a mix the check value does not describe. README.md ("Keyring") has the
 * whole procedure.
 *
 * Every record is opened (authenticated) before the plan is returned; one that does not open
 * aborts the whole plan, so a corrupt row stops a rotation before anything is written.
 */
import { wipe } from "./crypto.js";
import type { KeyId, Keyring } from "./keyring.js";
import { isKeyringError, KeyringError } from "./keyring-errors.js";
import type { Binding, Purpose } from "./keyring-format.js";
import type { LegacyFormat } from "./keyring-legacy.js";

/** One sealed field as stored: `ref` is the app's handle for writing it back (e.g. its primary key). */
export interface SealedRecord<R> {
  ref: R;
  purpose: Purpose;
  binding: Binding;
  blob: Uint8Array;
  /** the bea118d format this column may still hold (then it is rewrapped into the shared format) */
  legacy?: LegacyFormat | undefined;
}

export interface RotationCounts {
  /** records read */
  total: number;
  /** records with a new blob in `updates` */
  rewrapped: number;
  /** records already sealed (format 0x02) under the target: left alone, so a re-run is cheap */
  alreadyUnderTarget: number;
  /** records that were in a bea118d format */
  legacy: number;
  /** records per KEK id before the rotation */
  byKid: Record<KeyId, number>;
}

export interface RotationPlan<R> {
  /** the KEK everything is under once the plan is applied */
  target: KeyId;
  updates: { ref: R; blob: Uint8Array }[];
  /** write it to the check row in the same transaction as `updates` */
  checkValue: Uint8Array;
  counts: RotationCounts;
}

/**
 * Plans a rotation to `opts.to` (default `keyring.rotationTarget`: next when configured, else
 * current, which also moves legacy and retired-KEK records onto the current KEK, e.g. after a
 * restore). The target must be current or next.
 */
export function planRotation<R>(
  keyring: Keyring,
  records: Iterable<SealedRecord<R>>,
  opts: { to?: KeyId } = {},
): RotationPlan<R> {
  const target = opts.to ?? keyring.rotationTarget;
  const role = keyring.roleOf(target);
  if (role !== "current" && role !== "next") {
    throw new KeyringError("invalid_request", "a rotation target must be the current or the next KEK");
  }
  const counts: RotationCounts = { total: 0, rewrapped: 0, alreadyUnderTarget: 0, legacy: 0, byKid: {} };
  const updates: { ref: R; blob: Uint8Array }[] = [];
  for (const rec of records) {
    const n = counts.total++;
    let opened: ReturnType<Keyring["openAny"]>;
    try {
      opened = keyring.openAny(rec.purpose, rec.blob, rec.binding, rec.legacy);
    } catch (cause) {
      const code = isKeyringError(cause) ? cause.code : "integrity";
      throw new KeyringError(
        code,
        `rotation stopped: record #${n + 1} (${String(rec.purpose)}) does not open`,
        {
          cause,
        },
      );
    }
    counts.byKid[opened.kid] = (counts.byKid[opened.kid] ?? 0) + 1;
    if (opened.format === "legacy") counts.legacy++;
    try {
      if (opened.format === "v1" && opened.kid === target) {
        counts.alreadyUnderTarget++;
        continue;
      }
      updates.push({
        ref: rec.ref,
        blob: keyring.seal(rec.purpose, opened.plaintext, rec.binding, { kid: target }),
      });
      counts.rewrapped++;
    } finally {
      wipe(opened.plaintext);
    }
  }
  return { target, updates, checkValue: keyring.checkValue(target), counts };
}
