/**
 * `petsem audit export [INDEX]`: the audit as OpenSearch bulk JSON lines (index petsem-audit by
 * default) on stdout; exit 1 after the lines if the hash chain is broken.
 */
import { CliError, type CommandDef, command } from "@tkdb/service";
import { readAuditFile, toOpenSearchBulk } from "../audit.js";
import { getBackend, PetsemCrypto } from "../crypto.js";
import { PetsemError } from "../errors.js";
import { petsemDbFile } from "../server.js";
import { petsemConfig, requireDatabase } from "./common.js";

const INDEX_RE = /^[a-z0-9][a-z0-9._-]{0,254}$/;

export const auditExport: CommandDef<undefined> = command({
  name: "export",
  description: "print the audit as OpenSearch bulk JSON lines (read-only, no KEK needed)",
  args: [{ name: "index", description: "OpenSearch index name (default petsem-audit)", required: false }],
  examples: ["petsem audit export", "petsem audit export petsem-audit-eu > audit.ndjson"],
  run: (ctx) => {
    const index = ctx.args.index as string | undefined;
    if (index !== undefined && !INDEX_RE.test(index))
      throw CliError.usage("the index must be lower-case letters, digits, '.', '_' or '-'", {
        where: "INDEX",
      });
    const config = petsemConfig(ctx);
    const file = petsemDbFile(config);
    requireDatabase(file);
    const { records, chain } = readAuditFile(file, new PetsemCrypto(getBackend(config.backend)));
    // A stream of lines, not one value: written as is, with or without --json.
    ctx.stdout.write(toOpenSearchBulk(records, index));
    if (!chain.ok) throw new PetsemError("integrity", `audit chain broken at seq ${chain.brokenAt}`);
    return undefined;
  },
});
