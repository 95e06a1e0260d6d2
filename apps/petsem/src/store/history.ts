/**
 * `history`: the versions of one secret that petsem still keeps (LIMITS.versionsKept), newest
 * first: version, the app version it was written at, when, whether it was an unset, and its
 * per-version digest. Never a value, nor anything computed from one.
 */
import { and, desc, eq } from "drizzle-orm";
import { formatDigest } from "../crypto.js";
import { PetsemError } from "../errors.js";
import * as t from "../schema.js";
import type { HistoryResult } from "../types.js";
import { iso, type StoreCore } from "./core.js";
import { getApp, getHead } from "./rows.js";

export type { HistoryRequest, HistoryResult } from "../types.js";

export function secretHistory(core: StoreCore, org: string, app: string, name: string): HistoryResult {
  return core.sqlite.transaction((): HistoryResult => {
    const appVersion = getApp(core, org, app)?.appVersion ?? 0;
    const head = getHead(core, org, app, name);
    if (head === undefined) throw new PetsemError("not_found", "no such secret");
    const rows = core.db
      .select({
        version: t.secretVersions.version,
        appVersion: t.secretVersions.appVersion,
        digest: t.secretVersions.digest,
        createdAt: t.secretVersions.createdAt,
      })
      .from(t.secretVersions)
      .where(
        and(eq(t.secretVersions.org, org), eq(t.secretVersions.app, app), eq(t.secretVersions.name, name)),
      )
      .orderBy(desc(t.secretVersions.version))
      .all();
    return {
      app_version: appVersion,
      name,
      current_version: head.version,
      live: head.live,
      versions: rows.map((r) => ({
        version: r.version,
        app_version: r.appVersion,
        created_at: iso(r.createdAt),
        deleted: r.digest === null,
        digest: r.digest === null ? null : formatDigest(new Uint8Array(r.digest)),
      })),
    };
  })();
}
