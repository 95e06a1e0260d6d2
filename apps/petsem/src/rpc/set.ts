/**
 * `set`: a batch of names → values (null unsets), with optional per-name check-and-set versions
 * and an expected app version. Needs `set` if any value is a string, `unset` if any is null.
 */
import type { NoiseOp } from "@tkdb/noise";
import { bad, entries, optVersion, scope, token, version } from "./args.js";
import { mutating, type PetsemOp, type RpcDeps } from "./types.js";

export function setOp({ store, authorizer }: RpcDeps): NoiseOp {
  return async (ctx) => {
    const a = ctx.args;
    const { org, app } = scope(a);
    const values = new Map<string, string | null>();
    for (const [k, v] of entries(a.values, "values")) {
      if (v !== null && typeof v !== "string") throw bad("values must map names to strings or null");
      values.set(k, v);
    }
    const cas = new Map<string, number>();
    if (a.cas !== undefined && a.cas !== null) {
      for (const [k, v] of entries(a.cas, "cas")) cas.set(k, version(v, "cas"));
    }
    const ops: PetsemOp[] = [];
    if ([...values.values()].some((v) => v !== null)) ops.push("set");
    if ([...values.values()].some((v) => v === null)) ops.push("unset");
    if (ops.length === 0) ops.push("set");
    const auth = authorizer.authorize(token(a), ops, org, app);
    const expectedAppVersion = optVersion(a.expected_app_version, "expected_app_version");
    return store.set(
      { org, app, values, cas, ...(expectedAppVersion === undefined ? {} : { expectedAppVersion }) },
      mutating(ctx, auth),
    );
  };
}
