/**
 * `tkdb token revoke <nonceId|token|header>`: revoke a nonce's whole lineage (and the service
 * tokens strip made from it) on the local database.
 */
import { command } from "@tkdb/service";
import { serviceEnv } from "../env.js";
import { admin, INIT_OPTION, pretty, tkdbRun } from "./shared.js";

export const tokenRevoke = command({
  name: "revoke",
  description: "revoke a token (by nonce id, token or FlyV1 header) and everything made from it",
  args: [{ name: "target", description: "nonce id (base64), token or FlyV1 header" }],
  options: [INIT_OPTION],
  env: serviceEnv,
  examples: ["tkdb token revoke 'FlyV1 fm2_…'", "tkdb token revoke <nonceId> --json"],
  run: tkdbRun((ctx) => {
    const target = ctx.args.target as string;
    const args = /^(FlyV1 |Bearer |fm[12]_)/i.test(target) ? { token: target } : { nonce: target };
    return admin(ctx, "revoke", (svc) => svc.revoke(args));
  }),
  human: pretty,
});
