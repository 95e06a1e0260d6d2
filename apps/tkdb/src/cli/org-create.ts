/**
 * `tkdb org create <org>`: create an org root key (idempotent, audited) on the local database, or
 * with `--online` through the running tkdb (signing op `org_create`, Noise KK).
 */
import { command } from "@tkdb/service";
import { clientEnv, serviceEnv } from "../env.js";
import { call } from "./online.js";
import { admin, INIT_OPTION, tkdbRun } from "./shared.js";

export const orgCreate = command({
  name: "create",
  description: "create an organization's root key (idempotent; audited as cli:<user>)",
  args: [{ name: "org", description: "organization id" }],
  options: [
    INIT_OPTION,
    { flags: "--online", description: "ask the running tkdb at TKDB_URL (signing op org_create, Noise KK)" },
  ],
  env: { ...serviceEnv, ...clientEnv },
  examples: ["tkdb org create 5", "tkdb org create 5 --init --json", "tkdb org create 5 --online"],
  run: tkdbRun((ctx) =>
    ctx.opts.online === true
      ? call(ctx, "sign", "org_create", { org: ctx.args.org as string })
      : admin(ctx, "org_create", (svc) => svc.orgCreate({ org: ctx.args.org as string })),
  ),
});
