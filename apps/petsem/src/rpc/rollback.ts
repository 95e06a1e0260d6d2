/** `rollback`: makes an earlier version of one name current again (as a new version). */
import type { NoiseOp } from "@tkdb/noise";
import { bad, optVersion, scope, token, version } from "./args.js";
import { mutating, type RpcDeps } from "./types.js";

export function rollbackOp({ store, authorizer }: RpcDeps): NoiseOp {
  return async (ctx) => {
    const a = ctx.args;
    const { org, app } = scope(a);
    if (typeof a.name !== "string") throw bad("name must be a string");
    const toVersion = version(a.to_version, "to_version");
    const cas = optVersion(a.cas, "cas");
    const auth = authorizer.authorize(token(a), ["rollback"], org, app);
    return store.rollback(
      { org, app, name: a.name, toVersion, ...(cas === undefined ? {} : { cas }) },
      mutating(ctx, auth),
    );
  };
}
