/** `tkdb org create <org>`: create an org root key on the local database (idempotent, audited). */
import { command } from "@tkdb/service";
import { serviceEnv } from "../env.js";
import { admin, INIT_OPTION, pretty, tkdbRun } from "./shared.js";

export const orgCreate = command({
  name: "create",
  description: "create an organization's root key (idempotent; audited as cli:<user>)",
  args: [{ name: "org", description: "organization id" }],
  options: [INIT_OPTION],
  env: serviceEnv,
  examples: ["tkdb org create 5", "tkdb org create 5 --init --json"],
  run: tkdbRun((ctx) => admin(ctx, "org_create", (svc) => svc.orgCreate({ org: ctx.args.org as string }))),
  human: pretty,
});
