/**
 * What `tkdb audit verify|export` (@tkdb/audit's auditVerifyCli / auditExportCli) need of tkdb:
 * its name and where its log is (TKDB_AUDIT_DIR, default <TKDB_DATA_DIR>/audit; the local admin
 * commands' log is `<it>/cli`).
 */
import type { AuditCliApp } from "@tkdb/audit";
import { CliError, type CommandContext } from "@tkdb/service";
import { auditDirOf, dbPathOf, storeEnv } from "../env.js";

export const TKDB_AUDIT: AuditCliApp<CommandContext> = {
  app: "tkdb",
  dirVariable: "TKDB_AUDIT_DIR",
  dataDirVariable: "TKDB_DATA_DIR",
  auditDir(ctx) {
    const v = ctx.config(storeEnv);
    return auditDirOf({ dbPath: dbPathOf(v), auditDir: v.auditDir });
  },
  errors: CliError,
};
