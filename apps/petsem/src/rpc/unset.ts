/** `unset`: removes names (a new version each, value gone), with an optional expected app version. */
import type { NoiseOp } from "@tkdb/noise";
import { optVersion, scope, stringArray, token } from "./args.js";
import { mutating, type RpcDeps } from "./types.js";

export function unsetOp({ store, authorizer }: RpcDeps): NoiseOp {
  return async (ctx) => {
    const a = ctx.args;
    const { org, app } = scope(a);
    const names = stringArray(a.names, "names");
    const auth = authorizer.authorize(token(a), ["unset"], org, app);
    const expectedAppVersion = optVersion(a.expected_app_version, "expected_app_version");
    return store.unset(
      { org, app, names, ...(expectedAppVersion === undefined ? {} : { expectedAppVersion }) },
      mutating(ctx, auth),
    );
  };
}
