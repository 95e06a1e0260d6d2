/**
 * The deploy record of an app (issue 15): the app version the next boot must reach (`min_version`,
 * Fly's `min_secrets_version`) and when it was recorded. `secrets set --stage` writes without
 * touching it; `secrets deploy` (and `secrets set` without --stage) records it. `list` compares
 * each secret's change with it (Deployed / Staged). The record only moves forward, and never past
 * the app's current version: a record naming a version that does not exist would make every
 * boot that honours it wait forever.
 */
import { and, eq } from "drizzle-orm";
import { PetsemError } from "../errors.js";
import * as t from "../schema.js";
import type { DeployRecord, DeployResult } from "../types.js";
import { iso, type StoreCore } from "./core.js";
import { getApp } from "./rows.js";

export type { DeployRecord, DeployRequest, DeployResult } from "../types.js";

/** The app's deploy record, or null when it was never deployed. */
export function getDeploy(core: Pick<StoreCore, "db">, org: string, app: string): DeployRecord | null {
  const row = core.db
    .select()
    .from(t.deploys)
    .where(and(eq(t.deploys.org, org), eq(t.deploys.app, app)))
    .get();
  return row ? { min_version: row.minVersion, deployed_at: iso(row.deployedAt) } : null;
}

/**
 * Records `minVersion` (default: the app's current version) as the app's deploy record, inside the
 * store's write transaction. Refuses a version past the current one (`invalid_request`) and one
 * below the existing record (`conflict`: boots already had to reach it).
 */
export function applyDeploy(
  core: StoreCore,
  org: string,
  app: string,
  minVersion: number | undefined,
): DeployResult {
  const appVersion = getApp(core, org, app)?.appVersion ?? 0;
  const want = minVersion ?? appVersion;
  if (want > appVersion)
    throw new PetsemError("invalid_request", "min_version is past the app's current version", {
      details: { app_version: appVersion, min_version: want },
    });
  const prior = getDeploy(core, org, app);
  if (prior !== null && want < prior.min_version)
    throw new PetsemError("conflict", "the app is already deployed at a later version", {
      details: { min_version: prior.min_version },
    });
  const now = core.now();
  core.db
    .insert(t.deploys)
    .values({ org, app, minVersion: want, deployedAt: now })
    .onConflictDoUpdate({
      target: [t.deploys.org, t.deploys.app],
      set: { minVersion: want, deployedAt: now },
    })
    .run();
  return {
    app_version: appVersion,
    min_version: want,
    deployed_at: iso(now),
    changed: prior === null || prior.min_version !== want,
  };
}
