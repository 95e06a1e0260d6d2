/**
 * `petsem secrets set --org N --app N NAME=VALUE…`: one atomic batch through the running petsem
 * with the writer token, then the deploy record (unless --stage). `NAME=-` reads that value from
 * stdin (one trailing newline dropped: `echo` adds one); values typed on the command line are kept
 * in shell history and shown by `ps`, so they get a warning. Arguments are never echoed: a token
 * pasted in the wrong place must not end up in an error message.
 */
import { CliError, type CommandContext, type CommandDef, command } from "@tkdb/service";
import { connect, ORG_APP_OPTIONS, STAGE_OPTION, TOKEN_STDIN_OPTION, writerToken } from "./online.js";
import { humanWrite, type WriteOutcome, writeThenDeploy } from "./secrets-write.js";

export const ARGV_WARNING =
  "petsem: warning: values given on the command line stay in shell history and show in `ps`; " +
  "prefer NAME=- (value from stdin) or `petsem secrets import`\n";

/** NAME=VALUE arguments → values; at most one NAME=- (stdin is one stream). */
async function values(ctx: CommandContext, pairs: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let fromStdin: string | undefined;
  let fromArgv = false;
  for (const [i, p] of pairs.entries()) {
    const eq = p.indexOf("=");
    if (eq <= 0)
      throw CliError.usage(`argument ${i + 1} is not NAME=VALUE`, {
        where: "NAME=VALUE",
        hint: "write NAME=VALUE, or NAME=- to read the value from stdin",
      });
    const name = p.slice(0, eq);
    if (out.has(name) || name === fromStdin)
      throw CliError.usage(`argument ${i + 1} names a secret given before`, { where: "NAME=VALUE" });
    if (p.slice(eq + 1) === "-") {
      if (fromStdin !== undefined || ctx.opts.tokenStdin === true)
        throw CliError.usage("stdin can give one thing: one NAME=-, without --token-stdin", {
          where: "NAME=-",
        });
      fromStdin = name;
      continue;
    }
    fromArgv = true;
    out.set(name, p.slice(eq + 1));
  }
  if (fromArgv) ctx.stderr.write(ARGV_WARNING);
  if (fromStdin !== undefined) {
    const text = await ctx.readStdin(64 * 1024);
    out.set(fromStdin, text.replace(/\r?\n$/, ""));
  }
  return out;
}

export const secretsSet: CommandDef<WriteOutcome> = command({
  name: "set",
  description: "set secrets (one atomic batch) with the writer token, then deploy them unless --stage",
  args: [
    { name: "pairs", description: "NAME=VALUE, or NAME=- to read the value from stdin", variadic: true },
  ],
  options: [...ORG_APP_OPTIONS, STAGE_OPTION, TOKEN_STDIN_OPTION],
  examples: [
    'printf %s "$DATABASE_URL" | petsem secrets set --org 7 --app 42 DATABASE_URL=-',
    "petsem secrets set --org 7 --app 42 --stage LOG_LEVEL=debug",
  ],
  run: async (ctx) => {
    const online = connect(ctx);
    const pairs = (ctx.args.pairs ?? []) as string[];
    const vals = await values(ctx, pairs);
    const token = await writerToken(ctx, online);
    const { org, app } = ctx.opts as { org: bigint; app: bigint };
    const record = Object.fromEntries(vals);
    return writeThenDeploy(ctx, online, token, "set", (c) => c.set(token, org, app, record));
  },
  human: humanWrite,
});
