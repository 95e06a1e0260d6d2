/**
 * What `petsem audit verify|export` (@tkdb/audit's auditVerifyCli / auditExportCli) need of
 * petsem: its name and where its log is (PETSEM_AUDIT_DIR, default <data dir>/audit; the local
 * commands' log is `<it>/cli`).
 */
import type { AuditCliApp } from "@tkdb/audit";
import { CliError, type CommandContext } from "@tkdb/service";
import { petsemAuditDir } from "../server.js";
import { petsemConfig } from "./common.js";

export const PETSEM_AUDIT: AuditCliApp<CommandContext> = {
  app: "petsem",
  dirVariable: "PETSEM_AUDIT_DIR",
  dataDirVariable: "PETSEM_DATA_DIR",
  auditDir: (ctx) => petsemAuditDir(petsemConfig(ctx)),
  errors: CliError,
};
