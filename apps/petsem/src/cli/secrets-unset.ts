/**
 * `petsem secrets unset --org N --app N NAME…`: removes secrets (a new version each, value gone;
 * a name that is not set is not an error, as in Fly), then deploys unless --stage.
 */
import { type CommandDef, command } from "@tkdb/service";
import { connect, ORG_APP_OPTIONS, STAGE_OPTION, TOKEN_STDIN_OPTION, writerToken } from "./online.js";
import { humanWrite, type WriteOutcome, writeThenDeploy } from "./secrets-write.js";

export const secretsUnset: CommandDef<WriteOutcome> = command({
  name: "unset",
  description: "remove secrets (one atomic batch), then deploy unless --stage",
  args: [{ name: "names", description: "secret names", variadic: true }],
  options: [...ORG_APP_OPTIONS, STAGE_OPTION, TOKEN_STDIN_OPTION],
  examples: ["petsem secrets unset --org 7 --app 42 OLD_KEY OTHER_KEY"],
  run: async (ctx) => {
    const online = connect(ctx);
    const names = (ctx.args.names ?? []) as string[];
    const token = await writerToken(ctx, online);
    const { org, app } = ctx.opts as { org: bigint; app: bigint };
    return writeThenDeploy(ctx, online, token, "unset", (c) => c.unset(token, org, app, names));
  },
  human: humanWrite,
});
