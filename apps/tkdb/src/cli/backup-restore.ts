/** `tkdb backup restore [--timestamp T] [--output F]`: Litestream point-in-time restore. */
import { CliError, command } from "@tkdb/service";
import { backupEnv, dbPathOf } from "../env.js";
import { restore } from "../litestream.js";
import { pretty, tkdbRun } from "./shared.js";

export const backupRestore = command({
  name: "restore",
  description: "restore the database from its Litestream replica into a new file (TKDB_LITESTREAM_CONFIG)",
  env: backupEnv,
  options: [
    { flags: "--timestamp <time>", description: "restore as of this RFC 3339 time (default: latest)" },
    {
      flags: "--output <file>",
      description: "where to write the restored database (default: <db>.restored)",
    },
  ],
  examples: [
    "tkdb backup restore --output /tmp/tkdb.db",
    "tkdb backup restore --timestamp 2026-01-02T03:04:05Z --output /tmp/tkdb.db",
  ],
  run: tkdbRun(async (ctx) => {
    const env = ctx.config(backupEnv);
    const configPath = env.litestreamConfig;
    if (configPath === undefined)
      throw CliError.usage("set TKDB_LITESTREAM_CONFIG", { where: "TKDB_LITESTREAM_CONFIG" });
    const dbPath = dbPathOf(env);
    const outPath = (ctx.opts.output as string | undefined) ?? `${dbPath}.restored`;
    const timestamp = ctx.opts.timestamp as string | undefined;
    if (timestamp !== undefined && Number.isNaN(Date.parse(timestamp)))
      throw CliError.usage("--timestamp must be RFC 3339, e.g. 2026-01-02T03:04:05Z", {
        where: "--timestamp",
      });
    await restore({ configPath, dbPath, outPath, ...(timestamp ? { timestamp } : {}) });
    return { restored: outPath };
  }),
  human: pretty,
});
