/** The store's reads: `list` (metadata and digests, never values), the read half of `resolve`, app versions and the audit rows. */
import { and, asc, eq } from "drizzle-orm";
import { formatDigest } from "../crypto.js";
import { stmt } from "../db.js";
import { PetsemError } from "../errors.js";
import * as t from "../schema.js";
import type { ListResult } from "../types.js";
import { iso, type StoreCore } from "./core.js";
import { getDeploy } from "./deploys.js";
import { checkMinVersion } from "./epochs.js";
import { getApp, HEAD_VERSION } from "./rows.js";
import { openValue } from "./values.js";

/** An app's live secrets: names, versions, digests and times, and its deploy record, in one read transaction. */
export function listSecrets(
  core: StoreCore,
  org: string,
  app: string,
  minVersion: number,
  minEpoch?: string,
): ListResult {
  return core.sqlite.transaction((): ListResult => {
    const appVersion = getApp(core, org, app)?.appVersion ?? 0;
    const epoch = checkMinVersion(core, org, app, appVersion, minVersion, minEpoch);
    const rows = core.db
      .select({
        name: t.secretHeads.name,
        version: t.secretHeads.version,
        createdAt: t.secretHeads.createdAt,
        updatedAt: t.secretHeads.updatedAt,
        digest: t.secretVersions.digest,
        changedAt: t.secretVersions.appVersion,
      })
      .from(t.secretHeads)
      .innerJoin(t.secretVersions, HEAD_VERSION)
      .where(and(eq(t.secretHeads.org, org), eq(t.secretHeads.app, app), eq(t.secretHeads.live, true)))
      .orderBy(asc(t.secretHeads.name))
      .all();
    return {
      app_version: appVersion,
      epoch,
      secrets: rows.map((r) => ({
        name: r.name,
        digest: formatDigest(new Uint8Array(r.digest ?? Buffer.alloc(0))),
        version: r.version,
        app_version: r.changedAt,
        created_at: iso(r.createdAt),
        updated_at: iso(r.updatedAt),
      })),
      deployed: getDeploy(core, org, app),
    };
  })();
}

/** An app's live heads joined to their version rows, by name (the read half of resolve). */
const LIVE_VALUES = `SELECT h.name AS name, h.version AS version, v.sealed AS sealed
  FROM secret_heads h JOIN secret_versions v
    ON v.org = h.org AND v.app = h.app AND v.name = h.name AND v.version = h.version
  WHERE h.org = ? AND h.app = ? AND h.live = 1
  ORDER BY h.name`;

export interface OpenedValues {
  appVersion: number;
  /** the epoch `appVersion` belongs to (store/epochs.ts) */
  epoch: string;
  /** plaintext bytes: the caller wipes them */
  plain: { name: string; version: number; bytes: Uint8Array }[];
  missing: string[];
}

/**
 * Reads and decrypts an app's live values (all, or `wanted`) in one consistent read transaction.
 * Decrypted bytes are pushed to `out.plain` as they open, so a failure part-way leaves every
 * opened buffer where the caller can wipe it.
 */
export function openValues(
  core: StoreCore,
  org: string,
  app: string,
  wanted: string[] | null,
  minVersion: number,
  minEpoch: string | undefined,
  out: OpenedValues,
): void {
  core.sqlite.transaction(() => {
    const row = getApp(core, org, app);
    out.appVersion = row?.appVersion ?? 0;
    out.epoch = checkMinVersion(core, org, app, out.appVersion, minVersion, minEpoch);
    if (!row) {
      out.missing = wanted ?? [];
      return;
    }
    // One statement prepared once for all live values; `wanted` filters before anything opens.
    const want = wanted === null ? null : new Set(wanted);
    const rows = stmt<{ name: string; version: number; sealed: Buffer | null }>(core.sqlite, LIVE_VALUES)
      .all(org, app)
      .filter((r) => want === null || want.has(r.name));
    const keys = core.keys.keysFor(org, app, row);
    for (const r of rows) {
      if (r.sealed === null) throw new PetsemError("integrity", "stored value failed authentication");
      const sealed = new Uint8Array(r.sealed.buffer, r.sealed.byteOffset, r.sealed.byteLength);
      const bytes = openValue(core, keys, org, app, r.name, r.version, sealed);
      out.plain.push({ name: r.name, version: r.version, bytes });
    }
    const found = new Set(rows.map((r) => r.name));
    out.missing = (wanted ?? []).filter((n) => !found.has(n));
  })();
}

export interface AppVersionRow {
  org: string;
  app: string;
  appVersion: number;
}

export function appVersions(core: StoreCore): AppVersionRow[] {
  return core.db
    .select({ org: t.apps.org, app: t.apps.app, appVersion: t.apps.appVersion })
    .from(t.apps)
    .all();
}

export interface AuditRow {
  seq: number;
  kind: string;
  op: string;
  org: string;
  app: string;
  requestId: string;
  detail: string;
}

/** The audit trail in order (read-only). */
export function auditRows(core: StoreCore): AuditRow[] {
  return core.db
    .select({
      seq: t.audit.seq,
      kind: t.audit.kind,
      op: t.audit.op,
      org: t.audit.org,
      app: t.audit.app,
      requestId: t.audit.requestId,
      detail: t.audit.detail,
    })
    .from(t.audit)
    .orderBy(asc(t.audit.seq))
    .all();
}
