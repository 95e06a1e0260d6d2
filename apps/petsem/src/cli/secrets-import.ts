/**
 * `petsem secrets import --org N --app N [FILE]`: `.env` text (a file, or stdin when FILE is
 * absent or `-`) parsed with Fly's rules (dotenv.ts), written as one atomic batch with the writer
 * token, then deployed unless --stage. Parse errors name the line, never its text.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { CliError, type CommandContext, type CommandDef, command } from "@tkdb/service";
import { DotenvError, parseDotenv } from "./dotenv.js";
import { connect, ORG_APP_OPTIONS, STAGE_OPTION, TOKEN_STDIN_OPTION, writerToken } from "./online.js";
import { humanWrite, type WriteOutcome, writeThenDeploy } from "./secrets-write.js";

const MAX_INPUT = 1024 * 1024;

async function input(
  ctx: CommandContext,
  file: string | undefined,
): Promise<{ text: string; where: string }> {
  if (file === undefined || file === "-") {
    if (ctx.opts.tokenStdin === true)
      throw CliError.usage("stdin can give one thing: pass the .env as FILE with --token-stdin", {
        where: "FILE",
      });
    return { text: await ctx.readStdin(MAX_INPUT), where: "stdin" };
  }
  const path = resolve(ctx.cwd, file);
  try {
    if (statSync(path).size > MAX_INPUT)
      throw CliError.usage(`${path} is larger than ${MAX_INPUT} bytes`, { where: path });
    return { text: readFileSync(path, "utf8"), where: path };
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw CliError.usage(`cannot read ${path} (${(e as { code?: string }).code ?? "error"})`, {
      where: path,
      hint: "give the path of a .env file, or - for stdin",
    });
  }
}

export const secretsImport: CommandDef<WriteOutcome> = command({
  name: "import",
  description: "set secrets from .env text (a file or stdin; Fly's rules), then deploy them unless --stage",
  args: [{ name: "file", description: ".env file (default: stdin)", required: false }],
  options: [...ORG_APP_OPTIONS, STAGE_OPTION, TOKEN_STDIN_OPTION],
  examples: [
    "petsem secrets import --org 7 --app 42 .env",
    "petsem secrets import --org 7 --app 42 --stage < .env",
  ],
  run: async (ctx) => {
    const online = connect(ctx);
    const { text, where } = await input(ctx, ctx.args.file as string | undefined);
    let parsed: Map<string, string>;
    try {
      parsed = parseDotenv(text);
    } catch (e) {
      if (e instanceof DotenvError)
        throw CliError.usage(`${where}: ${e.message}`, {
          where: `${where}:${e.line}`,
          hint: 'write NAME=VALUE; a multi-line value is NAME="""…""" ending on a line that ends with """',
        });
      throw e;
    }
    if (parsed.size === 0) throw CliError.usage(`${where} holds no NAME=VALUE line`, { where });
    const token = await writerToken(ctx, online);
    const { org, app } = ctx.opts as { org: bigint; app: bigint };
    const record = Object.fromEntries(parsed);
    return writeThenDeploy(ctx, online, token, "set", (c) => c.set(token, org, app, record));
  },
  human: humanWrite,
});
