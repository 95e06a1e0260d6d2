/** `list`: names, versions and keyed digests of an app's secrets; never values. */
import type { NoiseOp } from "@tkdb/noise";
import { checkEpoch } from "../store/epochs.js";
import { optVersion, scope, token } from "./args.js";
import type { RpcDeps } from "./types.js";

export function listOp({ store, authorizer }: RpcDeps): NoiseOp {
  return async (ctx) => {
    const a = ctx.args;
    const { org, app } = scope(a);
    authorizer.authorize(token(a), ["list"], org, app);
    const minVersion = optVersion(a.min_version, "min_version");
    const minEpoch = a.min_epoch === undefined || a.min_epoch === null ? undefined : checkEpoch(a.min_epoch);
    return store.list({
      org,
      app,
      ...(minVersion === undefined ? {} : { minVersion }),
      ...(minEpoch === undefined ? {} : { minEpoch }),
    });
  };
}
