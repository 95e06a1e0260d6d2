/**
 * `tkdb revocations reapply --from <audit dir | export file | ->`: after a failover, puts back on
 * this primary's blacklist every revocation another node's audit log holds and the database lacks.
 *
 * A revocation committed on the old primary but not yet replicated when it failed is only in the
 * old primary's audit log (its volume, outside the LiteFS mount) and in the shipped stream
 * (OpenSearch). The new primary's own start re-applies only its own log (reapply.ts). This
 * command reads the old primary's log directory (and its `cli/` log), or an export of it
 * (`tkdb audit export` `_bulk` NDJSON, or documents read back from the index, one per line),
 * verifies it end to end (hash chain, checkpoints; an export as shipped, `--first-seq` where it
 * starts), and re-applies the missing nonces with the start's own code (reapply.ts
 * `applyRevocations`): one `revoke_reapplied` mutation per 100 000 nonces, audited as
 * `cli:<user>` in the local commands' log, whose outcome names them (so a later restore of this
 * node re-applies them from its own log). Idempotent: a second run adds nothing. A summary event
 * (`revocations_reapply`, count = nonces added) is logged for every run, a refusal included.
 *
 * Primary only: on a replica (TKDB_REPLICA, or LiteFS's `.primary`) it refuses with `not_primary`
 * before reading anything. Safe while tkdb serves (WAL; each batch is one transaction that skips
 * nonces a concurrent revoke added). infra/FAILOVER.md is the procedure.
 */
import { readFileSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import { CliError, type CommandContext, command, KindError } from "@tkdb/service";
import { cliActorOf, withCliAudit } from "../audit.js";
import { native } from "../crypto.js";
import { serveEnv, serviceConfigFrom, serviceEnv } from "../env.js";
import { applyRevocations, collectSources, type ReapplySource, revocationLogDirs } from "../reapply.js";
import { assertWritable } from "../replication.js";
import { DrizzleStore } from "../store.js";
import { TokenService } from "../tokens.js";
import { pretty, requireDatabase, tkdbRun } from "./shared.js";

/** The admin environment plus TKDB_REPLICA (a replica refuses). */
const reapplyEnv = { ...serviceEnv, replica: serveEnv.replica };

/** The most an export read from a file or stdin may hold. */
const MAX_EXPORT_BYTES = 512 * 1024 * 1024;

/** The summary event's op (the mutations are `revoke_reapplied`). */
const RUN_OP = "revocations_reapply";

export interface ReapplyOutcome {
  /** What was read: `dir` (with its cli/ log), `file` or `stdin`. */
  source: "dir" | "file" | "stdin";
  logs: string[];
  /** Distinct nonces the source names as revoked and still required. */
  required: number;
  /** Put back on the blacklist now (with --dry-run: would be). */
  reapplied: number;
  /** Already on the blacklist. */
  present: number;
  /** Named only by hash (`sha256:`): cannot be put back. */
  unnamed: number;
  dry_run: boolean;
}

function wholeNumber(text: string): number {
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new KindError("must be a whole number from 1");
  return Number(text);
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown"; // no passwd entry
  }
}

export const revocationsReapply = command({
  name: "reapply",
  description:
    "re-apply every revocation in another node's audit log (or an export of it) that this primary's database lacks",
  options: [
    {
      flags: "--from <path>",
      description:
        "the old primary's audit directory (its cli/ log included), a `tkdb audit export` file, or - for an export on stdin",
      required: true,
    },
    {
      flags: "--first-seq <n>",
      description: "an export that does not start at seq 1: the seq it starts at",
      parse: wholeNumber,
    },
    { flags: "--dry-run", description: "verify the source and count what is missing; write nothing" },
  ],
  env: reapplyEnv,
  examples: [
    "tkdb revocations reapply --from /mnt/old-volume/audit",
    "tkdb audit export > tkdb-audit.ndjson   # on the old primary, or read back from OpenSearch",
    "tkdb revocations reapply --from tkdb-audit.ndjson --json",
    "tkdb revocations reapply --from - --first-seq 5001 --dry-run < shipped.ndjson",
  ],
  run: tkdbRun(async (ctx): Promise<ReapplyOutcome> => {
    const v = ctx.config(reapplyEnv);
    const config = { ...serviceConfigFrom(v), replica: v.replica };
    // Only the primary writes; a replica refuses before it reads anything.
    assertWritable(config);
    requireDatabase(config.dbPath, false);
    const from = String(ctx.opts.from);
    const firstSeq = ctx.opts.firstSeq as number | undefined;
    const { source, logs, sources } = await readSource(ctx, from, firstSeq);
    const dryRun = ctx.opts.dryRun === true;
    const store = new DrizzleStore(config.dbPath, native);
    try {
      new TokenService(store, config, native).checkKek();
      const actor = cliActorOf(osUser());
      return await withCliAudit(config, store, async (audit) => {
        try {
          const wanted = await collectSources(sources);
          const r = await applyRevocations(store, audit, wanted, { actor, nowMs: Date.now(), dryRun });
          if (!dryRun) audit.event(RUN_OP, actor, { ids: { count: r.reapplied } });
          return {
            source,
            logs,
            required: r.required,
            reapplied: r.reapplied,
            present: r.required - r.reapplied,
            unnamed: r.unnamed,
            dry_run: dryRun,
          };
        } catch (err) {
          audit.event(RUN_OP, actor, { err });
          throw err;
        }
      });
    } finally {
      store.close();
    }
  }),
  human: (r: ReapplyOutcome) =>
    `${r.dry_run ? "would re-apply" : "re-applied"} ${r.reapplied} revocation(s); ${r.present} already on the blacklist${r.unnamed > 0 ? `; ${r.unnamed} named only by hash (not re-applied)` : ""}\n${pretty({ logs: r.logs })}`,
});

async function readSource(
  ctx: CommandContext,
  from: string,
  firstSeq: number | undefined,
): Promise<{ source: ReapplyOutcome["source"]; logs: string[]; sources: ReapplySource[] }> {
  const seq = firstSeq === undefined ? {} : { firstSeq };
  if (from === "-")
    return {
      source: "stdin",
      logs: ["-"],
      sources: [{ exportText: await ctx.readStdin(MAX_EXPORT_BYTES), ...seq }],
    };
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(from);
  } catch {
    throw CliError.refused(`cannot read ${from}`, {
      where: "--from",
      hint: "give the old primary's audit directory (TKDB_AUDIT_DIR on its volume) or a `tkdb audit export` file",
    });
  }
  if (st.isDirectory()) {
    if (firstSeq !== undefined)
      throw CliError.usage("--first-seq is for an export; a directory is verified whole", {
        where: "--first-seq",
      });
    const logs = revocationLogDirs(from);
    return { source: "dir", logs, sources: logs.map((dir) => ({ dir })) };
  }
  if (st.size > MAX_EXPORT_BYTES)
    throw CliError.refused(`${from} is over ${MAX_EXPORT_BYTES} bytes`, {
      where: "--from",
      hint: "split the export by node and seq range (--first-seq)",
    });
  return { source: "file", logs: [from], sources: [{ exportText: readFileSync(from, "utf8"), ...seq }] };
}
