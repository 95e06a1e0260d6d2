/** Where `tkdb audit verify|export` read: the node's log and the local admin commands' log. */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CliError, type CommandContext, KindError } from "@tkdb/service";
import { auditDirOf, dbPathOf, storeEnv } from "../env.js";

const SEGMENT = /^audit-\d{12}\.jsonl$/;

/** A folder holding at least one log segment. */
function isLog(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => SEGMENT.test(f));
}

/**
 * The log folders to read: `--dir`, else TKDB_AUDIT_DIR (default <data dir>/audit) and its `cli`
 * folder (the local admin commands' log), each when it holds a log. None: refused (exit 1).
 */
export function auditLogs(ctx: CommandContext): string[] {
  const v = ctx.config(storeEnv);
  const given = ctx.opts.dir as string | undefined;
  const dir = given ?? auditDirOf({ dbPath: dbPathOf(v), auditDir: v.auditDir });
  const logs = (given === undefined ? [dir, join(dir, "cli")] : [dir]).filter(isLog);
  if (logs.length === 0)
    throw CliError.refused(`no audit log at ${dir}`, {
      where: dir,
      hint: "check TKDB_AUDIT_DIR (default <TKDB_DATA_DIR>/audit) or pass --dir",
    });
  return logs;
}

export const DIR_OPTION = {
  flags: "--dir <path>",
  description: "one audit log folder (default: TKDB_AUDIT_DIR and its cli/ log)",
} as const;

/** A whole-number option (`--from-seq`, `--batch`). */
export function wholeNumber(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new KindError("must be a whole number");
  return Number(text);
}
