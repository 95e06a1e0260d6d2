/**
 * `tkdb audit export [index-prefix] [--ship <url>] [--from-seq <n>] [--batch <n>] [--dir <path>]`:
 * the audit log as OpenSearch `_bulk` NDJSON (documents into `<prefix>-YYYY.MM.DD`, `create`
 * with `_id` = `<node>:<seq>:<hash16>`, so a re-export never duplicates), on stdout or posted to
 * a `_bulk` URL with @tkdb/audit's auditExportCommand (then one JSON line of counts per log).
 * The log must verify first. The old positional `[index]` is the prefix now.
 *
 * `--legacy`: the database's old `audit` table (written before the file log), once, as before.
 */
import { auditExportCommand, isAuditError } from "@tkdb/audit";
import { command, ServiceError } from "@tkdb/service";
import { toOpenSearchBulk } from "../audit.js";
import { native } from "../crypto.js";
import { storeEnv } from "../env.js";
import { DrizzleStore } from "../store.js";
import { auditLogs, DIR_OPTION, wholeNumber } from "./audit-logs.js";
import { existingDbPath, tkdbRun } from "./shared.js";

export const auditExport = command({
  name: "export",
  description: "write the audit log as OpenSearch _bulk NDJSON on stdout, or ship it to a _bulk URL",
  args: [
    { name: "index", description: "index prefix (default tkdb-audit; or --index-prefix)", required: false },
  ],
  options: [
    { flags: "--index-prefix <prefix>", description: "documents go to <prefix>-YYYY.MM.DD" },
    { flags: "--ship <url>", description: "POST to this OpenSearch _bulk URL instead of stdout" },
    { flags: "--from-seq <n>", description: "start at this seq (per log)", parse: wholeNumber },
    {
      flags: "--batch <n>",
      description: "documents per _bulk request when shipping (default 500)",
      parse: wholeNumber,
    },
    { flags: "--legacy", description: "export the database's old audit table (before the file log) instead" },
    DIR_OPTION,
  ],
  env: storeEnv,
  examples: [
    "tkdb audit export > audit.ndjson",
    "tkdb audit export --ship http://127.0.0.1:9200/_bulk",
    "tkdb audit export --legacy tkdb-audit-legacy > legacy.ndjson",
  ],
  run: tkdbRun(async (ctx) => {
    const prefix = (ctx.opts.indexPrefix as string | undefined) ?? (ctx.args.index as string | undefined);
    if (ctx.opts.legacy === true) {
      const store = new DrizzleStore(existingDbPath(ctx), native, { replica: true });
      try {
        ctx.stdout.write(toOpenSearchBulk(store.auditRecords(), prefix));
      } finally {
        store.close();
      }
      return undefined;
    }
    const fromSeq = ctx.opts.fromSeq as number | undefined;
    const shipUrl = ctx.opts.ship as string | undefined;
    const batch = ctx.opts.batch as number | undefined;
    for (const dir of auditLogs(ctx)) {
      // Already JSON lines: written as is, with or without --json.
      await auditExportCommand(
        dir,
        {
          indexPrefix: prefix ?? "tkdb-audit",
          ...(fromSeq ? { fromSeq } : {}),
          ...(shipUrl ? { shipUrl } : {}),
          ...(batch ? { batch } : {}),
        },
        { out: (t) => ctx.stdout.write(t) },
      ).catch((e: unknown) => {
        // The _bulk endpoint refused or was unreachable (exit 3), or the log does not verify.
        if (!isAuditError(e)) throw e;
        throw new ServiceError(e.code === "unavailable" ? "unavailable" : "integrity", e.message, {
          cause: e,
        });
      });
    }
    return undefined;
  }),
});
