/**
 * `petsem token mint --writer|--reader`: mints a petsem token from the local database's root key
 * (the API server's writer token, or flyd's reader token that needs a tkdb discharge). The token
 * goes to stdout only. A missing database is an error unless --init asks to create it.
 */
import { CliError, type CommandDef, command } from "@tkdb/service";
import { auditedMint } from "../cli-audit.js";
import { openPetsem, petsemDbFile } from "../server.js";
import { localUser, petsemConfig, requireDatabase, ttlParser, uint64Parser } from "./common.js";

export const tokenMint: CommandDef<{ token: string }> = command({
  name: "mint",
  description:
    "mint a writer token (set, unset, list, rollback) or a reader token (resolve, with a tkdb discharge)",
  options: [
    { flags: "--writer", description: "the API server's token: writes secrets, never reads values" },
    { flags: "--reader", description: "flyd's token: resolves, only with a discharge from tkdb" },
    { flags: "--org <id>", description: "confine the token to one organization", parse: uint64Parser },
    { flags: "--app <id>", description: "confine the token to one app (with --org)", parse: uint64Parser },
    {
      flags: "--ttl <seconds>",
      description: "validity from now (default: none on the token itself)",
      parse: ttlParser,
    },
    { flags: "--init", description: "create the database if PETSEM_DATA_DIR has none" },
  ],
  examples: [
    "petsem token mint --writer",
    "petsem token mint --writer --org=7 --app 42 --ttl 3600",
    "petsem token mint --reader --json",
  ],
  run: async (ctx) => {
    const { writer, reader, org, app, ttl, init } = ctx.opts as {
      writer?: boolean;
      reader?: boolean;
      org?: bigint;
      app?: bigint;
      ttl?: number;
      init?: boolean;
    };
    if (writer === reader)
      throw CliError.usage("give exactly one of --writer and --reader", { where: "--writer" });
    if (app !== undefined && org === undefined) throw CliError.usage("--app needs --org", { where: "--app" });
    const config = petsemConfig(ctx);
    requireDatabase(petsemDbFile(config), init === true);
    const opened = openPetsem(config);
    try {
      const opts = {
        ...(org === undefined ? {} : { org }),
        ...(app === undefined ? {} : { app }),
        ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
      };
      return { token: await auditedMint(config, opened, writer ? "writer" : "reader", opts, localUser()) };
    } finally {
      opened.close();
    }
  },
  human: (r) => `${r.token}\n`,
});
