/** `petsem audit verify`: checks the audit hash chain (read-only; no KEK needed). */
import { type CommandDef, command } from "@tkdb/service";
import { readAuditFile } from "../audit.js";
import { getBackend, PetsemCrypto } from "../crypto.js";
import { PetsemError } from "../errors.js";
import { petsemDbFile } from "../server.js";
import { petsemConfig, requireDatabase } from "./common.js";

export const auditVerify: CommandDef<{ ok: true; records: number }> = command({
  name: "verify",
  description: "check the audit hash chain (read-only, no KEK needed); exit 1 if it is broken",
  examples: ["petsem audit verify"],
  run: (ctx) => {
    const config = petsemConfig(ctx);
    const file = petsemDbFile(config);
    requireDatabase(file);
    const { chain } = readAuditFile(file, new PetsemCrypto(getBackend(config.backend)));
    if (!chain.ok) throw new PetsemError("integrity", `audit chain broken at seq ${chain.brokenAt}`);
    return { ok: true, records: chain.count };
  },
  human: (r) => `${JSON.stringify(r)}\n`,
});
