/** `list`: names, versions and keyed digests of an app's secrets; never values. */
import type { NoiseOp } from "@tkdb/noise";
import { optVersion, scope, token } from "./args.js";
import type { RpcDeps } from "./types.js";

export function listOp({ store, authorizer }: RpcDeps): NoiseOp {
  return async (ctx) => {
    const a = ctx.args;
    const { org, app } = scope(a);
    authorizer.authorize(token(a), ["list"], org, app);
    const minVersion = optVersion(a.min_version, "min_version");
    return store.list({ org, app, ...(minVersion === undefined ? {} : { minVersion }) });
  };
}
