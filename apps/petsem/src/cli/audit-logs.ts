/** Where `petsem audit verify|export` read: the node's log and the local commands' log. */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CliError, type CommandContext, KindError } from "@tkdb/service";
import type { PetsemConfig } from "../env.js";
import { petsemAuditDir } from "../server.js";

const SEGMENT = /^audit-\d{12}\.jsonl$/;

function isLog(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => SEGMENT.test(f));
}

/**
 * The log folders to read: `--dir`, else PETSEM_AUDIT_DIR (default <data dir>/audit) and its `cli`
 * folder, each when it holds a log. None: refused (exit 1).
 */
export function auditLogs(ctx: CommandContext, config: PetsemConfig): string[] {
  const given = ctx.opts.dir as string | undefined;
  const dir = given ?? petsemAuditDir(config);
  const logs = (given === undefined ? [dir, join(dir, "cli")] : [dir]).filter(isLog);
  if (logs.length === 0)
    throw CliError.refused(`no audit log at ${dir}`, {
      where: dir,
      hint: "check PETSEM_AUDIT_DIR (default <PETSEM_DATA_DIR>/audit) or pass --dir",
    });
  return logs;
}

export const AUDIT_DIR_OPTION = {
  flags: "--dir <path>",
  description: "one audit log folder (default: PETSEM_AUDIT_DIR and its cli/ log)",
} as const;

/** A whole-number option (`--from-seq`, `--batch`, `--first-seq`). */
export function wholeNumber(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new KindError("must be a whole number");
  return Number(text);
}
