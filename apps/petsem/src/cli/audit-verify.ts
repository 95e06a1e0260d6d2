/**
 * `petsem audit verify [--dir <path>] [--first-seq <n>] [--legacy]`: checks this node's audit log
 * (PETSEM_AUDIT_DIR: hash chain, sequence, no truncation against its checkpoints) and the local
 * commands' log (`<dir>/cli`) with @tkdb/audit's verify. Reads only (no KEK, no writer lock): safe
 * while the server runs. `--legacy`: the database's old `audit` table (written before the file log).
 */
import { type VerifyResult, verify } from "@tkdb/audit";
import { type CommandDef, command } from "@tkdb/service";
import { readAuditFile } from "../audit.js";
import { getBackend, PetsemCrypto } from "../crypto.js";
import { PetsemError } from "../errors.js";
import { petsemDbFile } from "../server.js";
import { AUDIT_DIR_OPTION, auditLogs, wholeNumber } from "./audit-logs.js";
import { petsemConfig, requireDatabase } from "./common.js";

export interface AuditVerifyResult {
  readonly ok: true;
  readonly records: number;
  readonly logs?: (VerifyResult & { dir: string })[];
}

export const auditVerify: CommandDef<AuditVerifyResult> = command({
  name: "verify",
  description: "check the hash chain of this node's audit log and the local commands' log (read-only)",
  options: [
    AUDIT_DIR_OPTION,
    {
      flags: "--first-seq <n>",
      description: "the seq the oldest kept segment starts at (after shipped segments were pruned)",
      parse: wholeNumber,
    },
    { flags: "--legacy", description: "check the database's old audit table (before the file log) instead" },
  ],
  examples: ["petsem audit verify", "petsem audit verify --json", "petsem audit verify --dir /data/audit"],
  run: async (ctx) => {
    const config = petsemConfig(ctx);
    if (ctx.opts.legacy === true) {
      const file = petsemDbFile(config);
      requireDatabase(file);
      const { chain } = readAuditFile(file, new PetsemCrypto(getBackend(config.backend)));
      if (!chain.ok) throw new PetsemError("integrity", `audit chain broken at seq ${chain.brokenAt}`);
      return { ok: true, records: chain.count };
    }
    const firstSeq = ctx.opts.firstSeq as number | undefined;
    const logs: (VerifyResult & { dir: string })[] = [];
    for (const dir of auditLogs(ctx, config)) {
      logs.push({ dir, ...(await verify(dir, { live: true, ...(firstSeq ? { firstSeq } : {}) })) });
    }
    const bad = logs.find((l) => !l.ok);
    if (bad !== undefined && !bad.ok)
      throw new PetsemError(
        "integrity",
        `audit log ${bad.dir} does not verify: ${bad.failure}${bad.seq === undefined ? "" : ` at seq ${bad.seq}`}`,
      );
    return { ok: true, records: logs.reduce((n, l) => n + l.lines, 0), logs };
  },
  human: (r) => `${JSON.stringify(r)}\n`,
});
