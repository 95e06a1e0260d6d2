/**
 * `petsem audit export [index-prefix] [--ship <url>] [--from-seq <n>] [--batch <n>] [--dir <path>]`:
 * @tkdb/audit's auditExportCli over petsem's log. `--legacy`: the database's old `audit` table,
 * once, in the old shape.
 */
import { auditExportCli } from "@tkdb/audit";
import { command } from "@tkdb/service";
import { readAuditFile, toOpenSearchBulk } from "../audit.js";
import { getBackend, PetsemCrypto } from "../crypto.js";
import { PetsemError } from "../errors.js";
import { petsemDbFile } from "../server.js";
import { PETSEM_AUDIT } from "./audit-logs.js";
import { petsemConfig, requireDatabase } from "./common.js";

export const auditExport = command(
  auditExportCli(PETSEM_AUDIT, (ctx, prefix) => {
    const config = petsemConfig(ctx);
    const file = petsemDbFile(config);
    requireDatabase(file);
    const { records, chain } = readAuditFile(file, new PetsemCrypto(getBackend(config.backend)));
    ctx.stdout.write(toOpenSearchBulk(records, prefix));
    if (!chain.ok) throw new PetsemError("integrity", `audit chain broken at seq ${chain.brokenAt}`);
  }),
);
