/** `tkdb token mint --org <id> [--caveats <json>]`: mint a permission token on the local database. */
import { CliError, command } from "@tkdb/service";
import { serviceEnv } from "../env.js";
import { admin, INIT_OPTION, parseJSON, pretty, tkdbRun } from "./shared.js";

export const tokenMint = command({
  name: "mint",
  description: "mint a permission token for an organization (audited as cli:<user>)",
  // The old positional form `token mint <org> [caveats-json]` keeps working.
  args: [
    { name: "org", description: "organization id (or --org)", required: false },
    { name: "caveats", description: "caveats as JSON (or --caveats)", required: false },
  ],
  options: [
    { flags: "--org <id>", description: "organization id" },
    { flags: "--caveats <json>", description: 'caveats as JSON, e.g. [{"type":"Organization",…}]' },
    INIT_OPTION,
  ],
  env: serviceEnv,
  examples: [
    "tkdb token mint --org 5",
    `tkdb token mint --org=5 --caveats '[{"type":"Organization","body":{"id":5,"mask":"r"}}]' --json`,
  ],
  run: tkdbRun((ctx) => {
    const org = (ctx.opts.org as string | undefined) ?? ctx.args.org;
    if (typeof org !== "string" || org === "") throw CliError.usage("missing --org <id>", { where: "--org" });
    const caveatsText = (ctx.opts.caveats as string | undefined) ?? (ctx.args.caveats as string | undefined);
    const caveats = parseJSON(caveatsText ?? "[]", "caveats");
    return admin(ctx, "mint", (svc) => svc.mint({ org, caveats }));
  }),
  human: pretty,
});
