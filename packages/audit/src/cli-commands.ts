/**
 * `tkdb|petsem audit verify` and `tkdb|petsem audit export`, whole: arguments, options, help,
 * examples and bodies, as command definitions for @tkdb/service's CLI runner (`command`,
 * `defineCli`). Both apps call these with what differs between them (their name, where their log
 * is, their old in-database table for `--legacy`), so both commands behave and check the same.
 *
 * This package does not depend on @tkdb/service: a definition is plain data of the shape the
 * runner's `CommandDef` accepts, and the app hands over the runner's `CliError` (`usage` exits 2,
 * `refused` exits 1). A log that does not verify is an `integrity` AuditError (exit 1); a `_bulk`
 * endpoint that refuses or does not answer, `unavailable` (exit 3). Both read the log without the
 * KEK and without the writer lock: they never write, and are safe while the server runs.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { auditExportCommand } from "./cli.js";
import { AuditError, isAuditError } from "./errors.js";
import { INDEX_PREFIX_RE } from "./export.js";
import { listSegments } from "./files.js";
import { type VerifyResult, verify } from "./verify.js";

/** The part of the runner's command context these commands read. */
export interface AuditCliContext {
  readonly args: Readonly<Record<string, string | string[] | undefined>>;
  readonly opts: Readonly<Record<string, unknown>>;
  readonly stdout: { write(chunk: string): unknown };
}

type Problem = (message: string, opts: { where?: string; hint?: string }) => Error;

/** What differs between the apps. */
export interface AuditCliApp<C extends AuditCliContext> {
  /** The program, `tkdb` or `petsem`: the examples, and the default index prefix `<app>-audit`. */
  readonly app: string;
  /** The variable that places the log (`TKDB_AUDIT_DIR`) and the one its default is under. */
  readonly dirVariable: string;
  readonly dataDirVariable: string;
  /** This node's log folder from the app's configuration; `<it>/cli` holds the local commands' log. */
  auditDir(ctx: C): string;
  /** @tkdb/service's `CliError`. */
  readonly errors: { readonly usage: Problem; readonly refused: Problem };
}

interface AuditOption {
  readonly flags: string;
  readonly description: string;
  readonly parse?: (text: string) => unknown;
}

/** A definition @tkdb/service's `command()` takes as it is. */
export interface AuditCommand<C extends AuditCliContext, R> {
  readonly name: string;
  readonly description: string;
  readonly args?: readonly {
    readonly name: string;
    readonly description: string;
    readonly required: boolean;
  }[];
  readonly options: readonly AuditOption[];
  readonly examples: readonly string[];
  readonly run: (ctx: C) => Promise<R>;
  readonly human?: (result: R) => string;
}

export interface AuditVerifyResult {
  readonly ok: true;
  /** Lines verified, all logs together (legacy: rows of the old table). */
  readonly records: number;
  readonly logs?: (VerifyResult & { dir: string })[];
}

/** A whole-number option; a bad value is a usage error naming the flag, never echoing it. */
function wholeNumber(flag: string, app: AuditCliApp<never>): (text: string) => number {
  return (text) => {
    if (!/^\d{1,15}$/.test(text)) throw app.errors.usage(`${flag} must be a whole number`, { where: flag });
    return Number(text);
  };
}

function dirOption(app: AuditCliApp<never>): AuditOption {
  return {
    flags: "--dir <path>",
    description: `one audit log folder (default: ${app.dirVariable} and its cli/ log)`,
  };
}

function isLog(dir: string): boolean {
  return existsSync(dir) && listSegments(dir).length > 0;
}

/**
 * The log folders to read: `--dir`, else the app's audit folder and its `cli` folder (the local
 * commands' log), each when it holds a log. None: refused (exit 1).
 */
export function auditLogs<C extends AuditCliContext>(ctx: C, app: AuditCliApp<C>): string[] {
  const given = ctx.opts.dir as string | undefined;
  const dir = given ?? app.auditDir(ctx);
  const logs = (given === undefined ? [dir, join(dir, "cli")] : [dir]).filter(isLog);
  if (logs.length === 0)
    throw app.errors.refused(`no audit log at ${dir}`, {
      where: dir,
      hint: `check ${app.dirVariable} (default <${app.dataDirVariable}>/audit) or pass --dir`,
    });
  return logs;
}

/**
 * `<app> audit verify [--dir <path>] [--first-seq <n>] [--legacy]`: the hash chain, the sequence
 * and the checkpoints of this node's log and of the local commands' log. `legacy` (the app's old
 * in-database table) adds `--legacy`.
 */
export function auditVerifyCli<C extends AuditCliContext>(
  app: AuditCliApp<C>,
  legacy?: (ctx: C) => AuditVerifyResult | Promise<AuditVerifyResult>,
): AuditCommand<C, AuditVerifyResult> {
  const name = app.app;
  return {
    name: "verify",
    description: "check the hash chain of this node's audit log and the local commands' log (read-only)",
    options: [
      dirOption(app),
      {
        flags: "--first-seq <n>",
        description: "the seq the oldest kept segment starts at (after shipped segments were pruned)",
        parse: wholeNumber("--first-seq", app),
      },
      ...(legacy === undefined
        ? []
        : [
            {
              flags: "--legacy",
              description: "check the database's old audit table (before the file log) instead",
            },
          ]),
    ],
    examples: [
      `${name} audit verify`,
      `${name} audit verify --json`,
      `${name} audit verify --dir /data/audit`,
    ],
    run: async (ctx) => {
      if (legacy !== undefined && ctx.opts.legacy === true) return legacy(ctx);
      const firstSeq = ctx.opts.firstSeq as number | undefined;
      const logs: (VerifyResult & { dir: string })[] = [];
      for (const dir of auditLogs(ctx, app)) {
        logs.push({ dir, ...(await verify(dir, { live: true, ...(firstSeq ? { firstSeq } : {}) })) });
      }
      for (const l of logs)
        if (!l.ok)
          throw new AuditError(
            "integrity",
            `audit log ${l.dir} does not verify: ${l.failure}${l.seq === undefined ? "" : ` at seq ${l.seq}`} (${l.reason})`,
          );
      return { ok: true, records: logs.reduce((n, l) => n + l.lines, 0), logs };
    },
    human: (r) => `${JSON.stringify(r, null, 2)}\n`,
  };
}

/**
 * `<app> audit export [index-prefix] [--index-prefix <p>] [--ship <url>] [--from-seq <n>]
 * [--batch <n>] [--dir <path>] [--legacy]`: the log as OpenSearch `_bulk` NDJSON (documents into
 * `<prefix>-YYYY.MM.DD`, `create` with `_id` = `<node>:<seq>:<hash16>`, so a re-export never
 * duplicates) on stdout, or posted to a `_bulk` URL (then one JSON line of counts per log). The
 * log must verify first. A prefix outside INDEX_PREFIX_RE is a usage error (exit 2). `legacy`
 * (the app's old in-database table, exported once in the old shape) adds `--legacy`.
 */
export function auditExportCli<C extends AuditCliContext>(
  app: AuditCliApp<C>,
  legacy?: (ctx: C, indexPrefix: string | undefined) => void | Promise<void>,
): AuditCommand<C, undefined> {
  const name = app.app;
  return {
    name: "export",
    description: "write the audit log as OpenSearch _bulk NDJSON on stdout, or ship it to a _bulk URL",
    args: [
      {
        name: "index",
        description: `index prefix (default ${name}-audit; or --index-prefix)`,
        required: false,
      },
    ],
    options: [
      { flags: "--index-prefix <prefix>", description: "documents go to <prefix>-YYYY.MM.DD" },
      { flags: "--ship <url>", description: "POST to this OpenSearch _bulk URL instead of stdout" },
      {
        flags: "--from-seq <n>",
        description: "start at this seq (per log)",
        parse: wholeNumber("--from-seq", app),
      },
      {
        flags: "--batch <n>",
        description: "documents per _bulk request when shipping (default 500)",
        parse: wholeNumber("--batch", app),
      },
      ...(legacy === undefined
        ? []
        : [
            {
              flags: "--legacy",
              description: "export the database's old audit table (before the file log) instead",
            },
          ]),
      dirOption(app),
    ],
    examples: [
      `${name} audit export > audit.ndjson`,
      `${name} audit export --ship http://127.0.0.1:9200/_bulk`,
      ...(legacy === undefined ? [] : [`${name} audit export --legacy ${name}-audit-legacy > legacy.ndjson`]),
    ],
    run: async (ctx) => {
      const flag = ctx.opts.indexPrefix as string | undefined;
      const prefix = flag ?? (ctx.args.index as string | undefined);
      if (prefix !== undefined && !INDEX_PREFIX_RE.test(prefix))
        throw app.errors.usage(
          "the index prefix must be a lower-case letter, then lower-case letters, digits, '_' or '-'",
          {
            where: flag === undefined ? "index" : "--index-prefix",
          },
        );
      if (legacy !== undefined && ctx.opts.legacy === true) {
        await legacy(ctx, prefix);
        return undefined;
      }
      const fromSeq = ctx.opts.fromSeq as number | undefined;
      const shipUrl = ctx.opts.ship as string | undefined;
      const batch = ctx.opts.batch as number | undefined;
      for (const dir of auditLogs(ctx, app)) {
        // Already JSON lines: written as is, with or without --json.
        await auditExportCommand(
          dir,
          {
            indexPrefix: prefix ?? `${name}-audit`,
            ...(fromSeq ? { fromSeq } : {}),
            ...(shipUrl ? { shipUrl } : {}),
            ...(batch ? { batch } : {}),
          },
          { out: (t) => ctx.stdout.write(t) },
        ).catch((e: unknown) => {
          // `unavailable`: the _bulk endpoint refused or did not answer (exit 3); anything else the
          // package refuses is the log's fault (it does not verify).
          if (!isAuditError(e) || e.code === "unavailable" || e.code === "integrity") throw e;
          throw new AuditError("integrity", e.message, { cause: e });
        });
      }
      return undefined;
    },
  };
}
