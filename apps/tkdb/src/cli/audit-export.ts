/**
 * `tkdb audit export [index-prefix] [--ship <url>] [--from-seq <n>] [--batch <n>] [--dir <path>]`:
 * @tkdb/audit's auditExportCli over tkdb's log (the old positional `[index]` is the prefix).
 *
 * `--legacy`: the database's old `audit` table (written before the file log), once, as before.
 */
import { auditExportCli } from "@tkdb/audit";
import { command } from "@tkdb/service";
import { toOpenSearchBulk } from "../audit.js";
import { native } from "../crypto.js";
import { storeEnv } from "../env.js";
import { DrizzleStore } from "../store.js";
import { TKDB_AUDIT } from "./audit-logs.js";
import { existingDbPath, tkdbRun } from "./shared.js";

const def = auditExportCli(TKDB_AUDIT, (ctx, prefix) => {
  const store = new DrizzleStore(existingDbPath(ctx), native, { replica: true });
  try {
    ctx.stdout.write(toOpenSearchBulk(store.auditRecords(), prefix));
  } finally {
    store.close();
  }
});

export const auditExport = command({ ...def, env: storeEnv, run: tkdbRun(def.run) });
