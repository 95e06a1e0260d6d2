/**
 * `petsem audit verify [--dir <path>] [--first-seq <n>] [--legacy]`: checks this node's audit log
 * (PETSEM_AUDIT_DIR: hash chain, sequence, no truncation against its checkpoints) and the local
 * commands' log (`<dir>/cli`) with @tkdb/audit's auditVerifyCli. Reads only (no KEK, no writer
 * lock): safe while the server runs. `--legacy`: the database's old `audit` table (written before
 * the file log).
 */
import { auditVerifyCli } from "@tkdb/audit";
import { command } from "@tkdb/service";
import { readAuditFile } from "../audit.js";
import { getBackend, PetsemCrypto } from "../crypto.js";
import { PetsemError } from "../errors.js";
import { petsemDbFile } from "../server.js";
import { PETSEM_AUDIT } from "./audit-logs.js";
import { petsemConfig, requireDatabase } from "./common.js";

export const auditVerify = command(
  auditVerifyCli(PETSEM_AUDIT, (ctx) => {
    const config = petsemConfig(ctx);
    const file = petsemDbFile(config);
    requireDatabase(file);
    const { chain } = readAuditFile(file, new PetsemCrypto(getBackend(config.backend)));
    if (!chain.ok) throw new PetsemError("integrity", `audit chain broken at seq ${chain.brokenAt}`);
    return { ok: true, records: chain.count };
  }),
);
