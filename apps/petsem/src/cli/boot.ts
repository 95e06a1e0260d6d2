/**
 * `petsem boot --org N --app N --discharge <token|-> [--min-version V [--min-epoch E]] -- COMMAND [ARG…]`: flyd's
 * role in the dev walk. Resolves the app's secrets with the reader token (PETSEM_READER_TOKEN or
 * its _FILE) and tkdb's discharge, then runs COMMAND with them in its environment (stdio inherited)
 * and exits with its exit code (128 + signal number when a signal ended it). Values are never
 * printed. The child inherits this environment minus every PETSEM_* and TKDB_* variable (so it
 * gets no petsem or tkdb credential); the secrets are added on top.
 *
 * --min-version is the version the deploy step returned (Fly's min_secrets_version): petsem refuses
 * (`stale`) rather than answer older secrets. Without it, boot asks for version 0, whatever the
 * store has: the reader token cannot read the app's deploy record (it may only resolve), and a
 * record read from the same store would add no freshness guarantee anyway.
 *
 * --min-epoch is the epoch the deploy (or the write) returned beside that version: petsem's versions
 * are (epoch, version) pairs, and a restore or a failover that loses a version mints a new epoch in
 * which the same number is reissued with other contents. With the epoch, such a lost version is
 * refused (`stale`, details `lost`) instead of answered with the reissued contents; without it
 * petsem checks the number against its current epoch only and cannot tell the two apart. Whoever
 * gives flyd the version (the API server, from `secrets deploy`) gives the epoch with it.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import {
  CliError,
  type CliWritable,
  type CommandContext,
  type CommandDef,
  command,
  KindError,
} from "@tkdb/service";
import { connect, header, ORG_APP_OPTIONS, rpc } from "./online.js";
import { versionParser } from "./secrets-rollback.js";

/** The child's exit code of a `boot` run, by the run's stdout (runPetsemCli returns it). */
export const childExitCodes = new WeakMap<CliWritable, number>();

const HINTS = {
  unauthorized:
    "boot needs PETSEM_READER_TOKEN (`petsem token mint --reader`) with a fresh tkdb discharge for this org and app in --discharge",
  forbidden:
    "the discharge must come from tkdb for this org and app, be at most 5 minutes old, and match the reader token's ticket",
  stale:
    "petsem has not reached --min-version (in --min-epoch) yet: retry shortly; if the error says the version was lost in a restore, the secrets must be written and deployed again",
};

/** An epoch as petsem returns it (`epoch` of a write or deploy): 16 lower-case hex digits. */
export function epochParser(text: string): string {
  if (!/^[0-9a-f]{16}$/.test(text))
    throw new KindError(
      "must be an epoch as petsem returned it (16 hex digits, `epoch` of secrets deploy --json)",
    );
  return text;
}

function childEnv(ctx: CommandContext, secrets: readonly { name: string; value: string }[]) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.env)) if (v !== undefined && !/^(PETSEM|TKDB)_/.test(k)) env[k] = v;
  for (const s of secrets) env[s.name] = s.value;
  return env;
}

function run(ctx: CommandContext, argv: string[], env: Record<string, string>): Promise<number> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: "inherit", env, cwd: ctx.cwd });
    const stop = () => child.kill("SIGTERM");
    ctx.signal.addEventListener("abort", stop, { once: true });
    child.once("error", (e) => {
      ctx.signal.removeEventListener("abort", stop);
      reject(
        CliError.refused(`cannot run the command (${(e as { code?: string }).code ?? "error"})`, {
          where: cmd,
          hint: "check the command after -- exists and is executable",
        }),
      );
    });
    child.once("exit", (code, signal) => {
      ctx.signal.removeEventListener("abort", stop);
      resolve(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}

export const boot: CommandDef<undefined> = command({
  name: "boot",
  description:
    "flyd's role: resolve an app's secrets with the reader token and a tkdb discharge, then run a command with them",
  args: [{ name: "command", description: "the command to run, after --, and its arguments", variadic: true }],
  options: [
    ...ORG_APP_OPTIONS,
    {
      flags: "--discharge <token>",
      description: "tkdb's discharge for the reader token (`tkdb discharge …`), or - to read it from stdin",
      required: true,
    },
    {
      flags: "--min-version <version>",
      description: "the app version the deploy returned; petsem refuses older state (default: 0)",
      parse: versionParser,
    },
    {
      flags: "--min-epoch <epoch>",
      description:
        "the epoch the deploy returned with --min-version; a version lost in a restore or failover is refused (stale), never answered with other contents",
      parse: epochParser,
    },
  ],
  examples: [
    'petsem boot --org 7 --app 42 --discharge "$DISCHARGE" -- node server.js',
    "tkdb discharge … | petsem boot --org 7 --app 42 --discharge - --min-version 3 --min-epoch 9f2c4e1a0b7d3c58 -- ./start.sh",
  ],
  run: async (ctx) => {
    const argv = (ctx.args.command ?? []) as string[];
    if (argv.length === 0)
      throw CliError.usage("give the command to run after --", {
        where: "COMMAND",
        hint: "petsem boot … -- node server.js",
      });
    if (ctx.opts.minEpoch !== undefined && ctx.opts.minVersion === undefined)
      throw CliError.usage("--min-epoch goes with --min-version", {
        where: "--min-epoch",
        hint: "pass the (epoch, version) pair the deploy returned: --min-version V --min-epoch E",
      });
    const online = connect(ctx);
    const reader = online.config.readerToken;
    if (reader === undefined)
      throw CliError.usage("no reader token: set PETSEM_READER_TOKEN_FILE (or PETSEM_READER_TOKEN)", {
        where: "PETSEM_READER_TOKEN",
        hint: "mint one where petsem's database is: `petsem token mint --reader > reader.token`",
      });
    const { org, app, minVersion, minEpoch, discharge } = ctx.opts as {
      org: bigint;
      app: bigint;
      minVersion?: number;
      minEpoch?: string;
      discharge: string;
    };
    const d = discharge === "-" ? await ctx.readStdin(64 * 1024) : discharge;
    if (d.trim() === "")
      throw CliError.usage("the discharge is empty", {
        where: "--discharge",
        hint: "get one from tkdb (`tkdb discharge`)",
      });
    const r = await rpc(
      online,
      "resolve",
      (c) => c.resolve(header(reader, d), org, app, minVersion ?? 0, undefined, minEpoch),
      HINTS,
    );
    ctx.note(
      `resolved ${r.secrets.length} secrets at app version ${r.app_version}${r.epoch === undefined ? "" : ` (epoch ${r.epoch})`}; running the command`,
    );
    const code = await run(ctx, argv, childEnv(ctx, r.secrets));
    childExitCodes.set(ctx.stdout, code);
    return undefined;
  },
});
