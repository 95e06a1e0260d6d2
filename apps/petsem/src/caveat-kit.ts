/**
 * The one place petsem binds its caveats, from @tkdb/caveats (Fly reserves 0x10000–0x100ff for
 * petsem):
 * - 0x10000 SecretOps {ops}: set=1, unset=2, list=4, rollback=8, resolve=16.
 * - 0x10001 SecretScope {org, app}: app 0 = any app of the org.
 * Requests are judged as PetsemAccess {op, orgId, appId, now}. Tokens decode with `flyRegistry`, so
 * Fly's own caveats are understood too (and, given a PetsemAccess, fail closed).
 */
import { flyRegistry, PetsemAccess, SecretOps, SecretScope } from "@tkdb/caveats";
import type { PetsemCaveatKit } from "./tokens.js";

export const petsemCaveatKit: PetsemCaveatKit = {
  registry: flyRegistry,
  secretOps: (mask) => new SecretOps(mask),
  secretScope: (org, app) => new SecretScope(org, app),
  opsOf: (c) => (c instanceof SecretOps ? c.mask : null),
  scopeOf: (c) => (c instanceof SecretScope ? { org: c.org, app: c.app } : null),
  access: (op, org, app, now) => new PetsemAccess(op, org, app, now),
};
