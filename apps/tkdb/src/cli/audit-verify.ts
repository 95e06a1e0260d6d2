/**
 * `tkdb audit verify [--dir <path>]`: checks this node's audit log (hash chain, sequence, no
 * truncation against its checkpoints) and the local admin commands' log, with @tkdb/audit's
 * auditVerifyCommand. Reads only (no KEK, no writer lock): safe while the server runs.
 */
import { auditVerifyCommand, type VerifyResult } from "@tkdb/audit";
import { command } from "@tkdb/service";
import { storeEnv } from "../env.js";
import { TkdbError } from "../errors.js";
import { auditLogs, DIR_OPTION, wholeNumber } from "./audit-logs.js";
import { pretty, tkdbRun } from "./shared.js";

export const auditVerify = command({
  name: "verify",
  description: "check the hash chain of this node's audit log (and of the local commands' log)",
  options: [
    DIR_OPTION,
    {
      flags: "--first-seq <n>",
      description: "the seq the oldest kept segment starts at (after shipped segments were pruned)",
      parse: wholeNumber,
    },
  ],
  env: storeEnv,
  examples: ["tkdb audit verify", "tkdb audit verify --json", "tkdb audit verify --dir /data/audit"],
  run: tkdbRun(async (ctx) => {
    const logs: (VerifyResult & { dir: string })[] = [];
    const firstSeq = ctx.opts.firstSeq as number | undefined;
    for (const dir of auditLogs(ctx)) {
      let text = "";
      await auditVerifyCommand(dir, { out: (t) => (text += t) }, firstSeq ? { firstSeq } : {});
      logs.push({ dir, ...(JSON.parse(text) as VerifyResult) });
    }
    const bad = logs.find((l) => !l.ok);
    if (bad !== undefined && !bad.ok)
      throw new TkdbError(
        "audit_broken",
        `audit log ${bad.dir} does not verify: ${bad.failure}${bad.seq === undefined ? "" : ` at seq ${bad.seq}`} (${bad.reason})`,
      );
    return { ok: true, records: logs.reduce((n, l) => n + l.lines, 0), logs };
  }),
  human: pretty,
});
