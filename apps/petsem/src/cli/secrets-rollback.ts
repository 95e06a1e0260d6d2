/**
 * `petsem secrets rollback NAME --to N --org N --app N`: makes version N of NAME current again as a
 * new version, server-side (the value never leaves petsem), then deploys unless --stage.
 */
import { type CommandDef, command, KindError } from "@tkdb/service";
import { connect, ORG_APP_OPTIONS, STAGE_OPTION, TOKEN_STDIN_OPTION, writerToken } from "./online.js";
import { humanWrite, type WriteOutcome, writeThenDeploy } from "./secrets-write.js";

export function versionParser(text: string): number {
  if (!/^\d{1,15}$/.test(text))
    throw new KindError("must be a version number (see `petsem secrets history`)");
  return Number(text);
}

export const secretsRollback: CommandDef<WriteOutcome> = command({
  name: "rollback",
  description:
    "make an earlier version of a secret current again (a new version), then deploy unless --stage",
  args: [{ name: "name", description: "the secret's name" }],
  options: [
    ...ORG_APP_OPTIONS,
    {
      flags: "--to <version>",
      description: "the version to bring back",
      required: true,
      parse: versionParser,
    },
    STAGE_OPTION,
    TOKEN_STDIN_OPTION,
  ],
  examples: ["petsem secrets rollback DATABASE_URL --to 3 --org 7 --app 42"],
  run: async (ctx) => {
    const online = connect(ctx);
    const name = ctx.args.name as string;
    const token = await writerToken(ctx, online);
    const { org, app, to } = ctx.opts as { org: bigint; app: bigint; to: number };
    return writeThenDeploy(ctx, online, token, "rollback", (c) => c.rollback(token, org, app, name, to));
  },
  human: humanWrite,
});
