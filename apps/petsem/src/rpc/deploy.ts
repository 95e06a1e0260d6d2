/**
 * `deploy`: records the app version the next boot must reach (the app's deploy record, its
 * `min_version`; default: the current version). A writer-token op: it needs the `set` right, the
 * one `secrets set` (which deploys unless --stage) needs anyway. Idempotent per (client key, rid)
 * and audited, like every mutation.
 */
import type { NoiseOp } from "@tkdb/noise";
import { optVersion, scope, token } from "./args.js";
import { mutating, type RpcDeps } from "./types.js";

export function deployOp({ store, authorizer }: RpcDeps): NoiseOp {
  return async (ctx) => {
    const a = ctx.args;
    const { org, app } = scope(a);
    const minVersion = optVersion(a.min_version, "min_version");
    const auth = authorizer.authorize(token(a), ["set"], org, app);
    return store.deploy(
      { org, app, ...(minVersion === undefined ? {} : { minVersion }) },
      mutating(ctx, auth),
    );
  };
}
