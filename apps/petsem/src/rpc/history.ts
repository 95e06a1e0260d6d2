/**
 * `history`: one secret's kept versions, newest first (version, app version, time, unset or not,
 * per-version digest); never values. Metadata like `list`, so it needs the `list` right.
 */
import type { NoiseOp } from "@tkdb/noise";
import { bad, scope, token } from "./args.js";
import type { RpcDeps } from "./types.js";

export function historyOp({ store, authorizer }: RpcDeps): NoiseOp {
  return async (ctx) => {
    const a = ctx.args;
    const { org, app } = scope(a);
    if (typeof a.name !== "string") throw bad("name must be a string");
    authorizer.authorize(token(a), ["list"], org, app);
    return store.history({ org, app, name: a.name });
  };
}
