/**
 * The changes a write makes, inside the store's write transaction (src/store.ts `mutate` wraps
 * them with the audit and the replay record). Every value written is a new version with a fresh
 * random digest, also when it equals the stored one: nothing here compares a new value with a
 * stored one, so no reply, digest, version or timing depends on that equality (P11, P19).
 */
import { and, eq, inArray } from "drizzle-orm";
import { encodeUtf8, formatDigest, wipe } from "../crypto.js";
import { PetsemError } from "../errors.js";
import * as t from "../schema.js";
import type { RollbackResult, SecretChange, SetResult } from "../types.js";
import { LIMITS } from "../validate.js";
import type { StoreCore } from "./core.js";
import {
  type AppRow,
  getApp,
  getHead,
  getVersion,
  insertVersion,
  liveCount,
  setAppVersion,
  upsertHead,
} from "./rows.js";
import { openValue, sealValue } from "./values.js";

type Head = typeof t.secretHeads.$inferSelect;

function tooMany(): PetsemError {
  return new PetsemError("too_many", "app is over its secret limit", {
    details: { limit: LIMITS.maxSecretsPerApp },
  });
}

/** Check-and-set and the live-count limit, before any crypto (P21); returns the batch's heads. */
function checkBatch(
  core: StoreCore,
  org: string,
  app: string,
  names: string[],
  values: Map<string, string | null>,
  cas: Map<string, number>,
): Map<string, Head> {
  const heads = new Map(
    core.db
      .select()
      .from(t.secretHeads)
      .where(and(eq(t.secretHeads.org, org), eq(t.secretHeads.app, app), inArray(t.secretHeads.name, names)))
      .all()
      .map((h) => [h.name, h] as const),
  );
  for (const [name, want] of cas) {
    const head = heads.get(name);
    const ok = want === 0 ? !head?.live : head !== undefined && head.version === want;
    if (!ok) {
      throw new PetsemError("cas_mismatch", "a secret's version does not match its cas", {
        details: { current_version: head?.version ?? 0 },
      });
    }
  }
  let live = liveCount(core, org, app);
  for (const name of names)
    live += Number(values.get(name) !== null) - Number(heads.get(name)?.live ?? false);
  if (live > LIMITS.maxSecretsPerApp) throw tooMany();
  return heads;
}

/** Applies a checked batch (names sorted); bumps the app version by one if anything changed. */
export function applyBatch(
  core: StoreCore,
  org: string,
  app: string,
  names: string[],
  values: Map<string, string | null>,
  cas: Map<string, number>,
  expected: number | undefined,
): SetResult {
  const row = getApp(core, org, app);
  const appVersion = row?.appVersion ?? 0;
  if (expected !== undefined && expected !== appVersion) {
    throw new PetsemError("cas_mismatch", "app version does not match expected_app_version", {
      details: { current_app_version: appVersion },
    });
  }
  const heads = checkBatch(core, org, app, names, values, cas);
  const keys = core.keys.keysFor(org, app, row);
  const newAppVersion = appVersion + 1;
  const now = core.now();
  const out: SecretChange[] = [];
  let changed = 0;
  for (const name of names) {
    const head = heads.get(name);
    const value = values.get(name) ?? null;
    const version = (head?.version ?? 0) + 1;
    let digestOut: string | null = null;
    if (value === null) {
      // Unsetting a name that is not live changes nothing; liveness is what `list` shows anyway.
      if (!head?.live) {
        out.push({ name, version: head?.version ?? 0, digest: null, deleted: true, changed: false });
        continue;
      }
      insertVersion(core, {
        org,
        app,
        name,
        version,
        appVersion: newAppVersion,
        sealed: null,
        digest: null,
        now,
      });
    } else {
      // Always a new version with a fresh random digest: never compared with the stored value.
      const plain = encodeUtf8(value);
      const digest = core.crypto.newDigest();
      const sealed = sealValue(keys, org, app, name, version, plain);
      wipe(plain);
      insertVersion(core, { org, app, name, version, appVersion: newAppVersion, sealed, digest, now });
      digestOut = formatDigest(digest);
    }
    upsertHead(core, {
      org,
      app,
      name,
      version,
      live: value !== null,
      createdAt: head?.createdAt ?? now,
      updatedAt: now,
    });
    out.push({ name, version, digest: digestOut, deleted: value === null, changed: true });
    core.hooks.afterVersionRow?.(changed);
    changed++;
  }
  if (changed === 0) return { app_version: appVersion, changed: false, secrets: out };
  setAppVersion(core, org, app, newAppVersion);
  return { app_version: newAppVersion, changed: true, secrets: out };
}

/** The app row and head a rollback starts from, checked (exists, cas, count limit). */
function rollbackStart(core: StoreCore, org: string, app: string, name: string, cas: number | undefined) {
  const row: AppRow | undefined = getApp(core, org, app);
  const head = row ? getHead(core, org, app, name) : undefined;
  if (!row || !head) throw new PetsemError("not_found", "no such secret version");
  if (cas !== undefined && (cas === 0 ? head.live : head.version !== cas)) {
    throw new PetsemError("cas_mismatch", "a secret's version does not match its cas", {
      details: { current_version: head.version },
    });
  }
  return { row, head };
}

/** Re-seals an earlier version's value as a new version, server-side; returns no value. */
export function applyRollback(
  core: StoreCore,
  org: string,
  app: string,
  name: string,
  toVersion: number,
  cas: number | undefined,
): RollbackResult {
  const { row, head } = rollbackStart(core, org, app, name, cas);
  const old = getVersion(core, org, app, name, toVersion);
  if (!old || old.sealed === null) {
    throw new PetsemError("not_found", "no such secret version (or it is an unset)");
  }
  // Reviving an unset name adds a live secret: the same count limit as `set` (item 6), before
  // any crypto, or rollbacks could grow an app past what `resolve` can return.
  if (!head.live && liveCount(core, org, app) + 1 > LIMITS.maxSecretsPerApp) throw tooMany();
  // Always a new version with a fresh digest, even when the old value equals the current one:
  // the reply must not depend on the values (security issue 12 item 1).
  const keys = core.keys.keysFor(org, app, row);
  const plain = openValue(core, keys, org, app, name, toVersion, new Uint8Array(old.sealed));
  const version = head.version + 1;
  const newAppVersion = row.appVersion + 1;
  const now = core.now();
  const sealed = sealValue(keys, org, app, name, version, plain);
  wipe(plain);
  const digest = core.crypto.newDigest();
  insertVersion(core, { org, app, name, version, appVersion: newAppVersion, sealed, digest, now });
  upsertHead(core, { org, app, name, version, live: true, createdAt: head.createdAt, updatedAt: now });
  setAppVersion(core, org, app, newAppVersion);
  return { name, version, app_version: newAppVersion, digest: formatDigest(digest), changed: true };
}
