/** `tkdb audit verify`: check the local database's audit hash chain. */
import { command } from "@tkdb/service";
import { native } from "../crypto.js";
import { storeEnv } from "../env.js";
import { TkdbError } from "../errors.js";
import { DrizzleStore, verifyAuditChain } from "../store.js";
import { existingDbPath, pretty, tkdbRun } from "./shared.js";

export const auditVerify = command({
  name: "verify",
  description: "check the audit hash chain of the local database",
  env: storeEnv,
  examples: ["tkdb audit verify", "tkdb audit verify --json"],
  run: tkdbRun((ctx) => {
    const store = new DrizzleStore(existingDbPath(ctx), native);
    try {
      const records = store.auditRecords();
      const broken = verifyAuditChain(native, records);
      if (broken !== null) throw new TkdbError("audit_broken", `audit chain broken at seq ${broken}`);
      return { ok: true, records: records.length };
    } finally {
      store.close();
    }
  }),
  human: pretty,
});
