/** `tkdb audit export [index]`: the audit trail as OpenSearch `_bulk` JSON lines on stdout. */
import { command } from "@tkdb/service";
import { toOpenSearchBulk } from "../audit.js";
import { native } from "../crypto.js";
import { storeEnv } from "../env.js";
import { DrizzleStore } from "../store.js";
import { existingDbPath, tkdbRun } from "./shared.js";

export const auditExport = command({
  name: "export",
  description: "write the audit trail as OpenSearch _bulk JSON lines on stdout",
  args: [{ name: "index", description: "OpenSearch index name (default tkdb-audit)", required: false }],
  env: storeEnv,
  examples: ["tkdb audit export > audit.ndjson", "tkdb audit export tkdb-audit-2026"],
  run: tkdbRun((ctx) => {
    const store = new DrizzleStore(existingDbPath(ctx), native);
    try {
      // Already JSON lines: written as is, with or without --json.
      ctx.stdout.write(toOpenSearchBulk(store.auditRecords(), ctx.args.index as string | undefined));
      return undefined;
    } finally {
      store.close();
    }
  }),
});
