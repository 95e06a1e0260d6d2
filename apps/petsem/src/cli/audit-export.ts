/**
 * `petsem audit export [index-prefix] [--ship <url>] [--from-seq <n>] [--batch <n>] [--dir <path>]`:
 * the audit log as OpenSearch `_bulk` NDJSON (documents into `<prefix>-YYYY.MM.DD`, `create` with
 * `_id` = `<node>:<seq>:<hash16>`, so a re-export never duplicates), on stdout or posted to a
 * `_bulk` URL (then one JSON line of counts per log), with @tkdb/audit's auditExportCommand. The
 * log must verify first. `--legacy`: the database's old `audit` table, once, in the old shape.
 */
import { auditExportCommand, isAuditError } from "@tkdb/audit";
import { CliError, type CommandDef, command } from "@tkdb/service";
import { readAuditFile, toOpenSearchBulk } from "../audit.js";
import { getBackend, PetsemCrypto } from "../crypto.js";
import { PetsemError } from "../errors.js";
import { petsemDbFile } from "../server.js";
import { AUDIT_DIR_OPTION, auditLogs, wholeNumber } from "./audit-logs.js";
import { petsemConfig, requireDatabase } from "./common.js";

const INDEX_RE = /^[a-z0-9][a-z0-9._-]{0,200}$/;

export const auditExport: CommandDef<undefined> = command({
  name: "export",
  description: "write the audit log as OpenSearch _bulk NDJSON on stdout, or ship it to a _bulk URL",
  args: [
    { name: "index", description: "index prefix (default petsem-audit; or --index-prefix)", required: false },
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
    AUDIT_DIR_OPTION,
  ],
  examples: [
    "petsem audit export > audit.ndjson",
    "petsem audit export --ship http://127.0.0.1:9200/_bulk",
    "petsem audit export --legacy petsem-audit-legacy > legacy.ndjson",
  ],
  run: async (ctx) => {
    const prefix = (ctx.opts.indexPrefix as string | undefined) ?? (ctx.args.index as string | undefined);
    if (prefix !== undefined && !INDEX_RE.test(prefix))
      throw CliError.usage("the index prefix must be lower-case letters, digits, '.', '_' or '-'", {
        where: "INDEX",
      });
    const config = petsemConfig(ctx);
    if (ctx.opts.legacy === true) {
      const file = petsemDbFile(config);
      requireDatabase(file);
      const { records, chain } = readAuditFile(file, new PetsemCrypto(getBackend(config.backend)));
      ctx.stdout.write(toOpenSearchBulk(records, prefix));
      if (!chain.ok) throw new PetsemError("integrity", `audit chain broken at seq ${chain.brokenAt}`);
      return undefined;
    }
    const fromSeq = ctx.opts.fromSeq as number | undefined;
    const shipUrl = ctx.opts.ship as string | undefined;
    const batch = ctx.opts.batch as number | undefined;
    for (const dir of auditLogs(ctx, config)) {
      // Already JSON lines: written as is, with or without --json.
      await auditExportCommand(
        dir,
        {
          indexPrefix: prefix ?? "petsem-audit",
          ...(fromSeq ? { fromSeq } : {}),
          ...(shipUrl ? { shipUrl } : {}),
          ...(batch ? { batch } : {}),
        },
        { out: (t) => ctx.stdout.write(t) },
      ).catch((e: unknown) => {
        // The _bulk endpoint refused or was unreachable, or the log does not verify.
        if (!isAuditError(e)) throw e;
        throw new PetsemError(e.code === "unavailable" ? "unavailable" : "integrity", e.message, {
          cause: e,
        });
      });
    }
    return undefined;
  },
});
