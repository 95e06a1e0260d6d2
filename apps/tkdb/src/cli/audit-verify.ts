/**
 * `tkdb audit verify [--dir <path>] [--first-seq <n>]`: checks this node's audit log (hash chain,
 * sequence, no truncation against its checkpoints) and the local admin commands' log, with
 * @tkdb/audit's auditVerifyCli. Reads only (no KEK, no writer lock): safe while the server runs.
 */
import { auditVerifyCli } from "@tkdb/audit";
import { command } from "@tkdb/service";
import { storeEnv } from "../env.js";
import { TKDB_AUDIT } from "./audit-logs.js";
import { tkdbRun } from "./shared.js";

const def = auditVerifyCli(TKDB_AUDIT);

export const auditVerify = command({ ...def, env: storeEnv, run: tkdbRun(def.run) });
