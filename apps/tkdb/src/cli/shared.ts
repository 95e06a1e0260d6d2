/**
 * What the tkdb commands share: the bridge from TkdbError to the runner's exit codes, the local
 * admin transaction (KEK checked, audited as cli:<user>), token input (argv or stdin), the
 * development check, and output. The online Noise call is in online.ts.
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { CliError, type CommandContext, EXIT_CODES, exitCodeFor } from "@tkdb/service";
import { cliActorOf, withCliAudit } from "../audit.js";
import { native } from "../crypto.js";
import { dbPathOf, serviceConfigFrom, serviceEnv, storeEnv } from "../env.js";
import { TkdbError } from "../errors.js";
import { assertPrimary } from "../litefs.js";
import { runMutation } from "../mutate.js";
import { type AuditInput, DrizzleStore } from "../store.js";
import { TokenService } from "../tokens.js";

/**
 * Runs a command body. A TkdbError keeps its exit code (from its canonical code: `config` is a
 * usage error, `not_primary` an unavailable one, the rest refusals) and shows its canonical code,
 * the one the server sends too (`tkdb: error: invalid_request: …`, and in --json errors).
 */
export function tkdbRun<R>(fn: (ctx: CommandContext) => R | Promise<R>): (ctx: CommandContext) => Promise<R> {
  return async (ctx) => {
    try {
      return await fn(ctx);
    } catch (e) {
      if (!(e instanceof TkdbError)) throw e;
      const exit = exitCodeFor(e);
      const kind =
        exit === EXIT_CODES.usage ? "usage" : exit === EXIT_CODES.unreachable ? "unreachable" : "refused";
      throw new CliError(kind, e.message, { code: e.code, cause: e });
    }
  };
}

/** The old output: strings as they are, anything else as indented JSON. */
export function pretty(v: unknown): string {
  return `${typeof v === "string" ? v : JSON.stringify(v, null, 2)}\n`;
}

/** `--init` of the local admin commands. */
export const INIT_OPTION = {
  flags: "--init",
  description: "create the database (and its KEK check) if it does not exist yet",
} as const;

/** A local command never creates a database it was not asked to: no file, no command (unless --init). */
export function requireDatabase(path: string, init: boolean): void {
  if (init || existsSync(path)) return;
  throw CliError.refused(`no database at ${path}`, {
    where: path,
    hint: "check TKDB_DATA_DIR (or pass --init to create a new database there)",
  });
}

/** The database path, checked to exist (audit commands never create one). */
export function existingDbPath(ctx: CommandContext): string {
  const path = dbPathOf(ctx.config(storeEnv));
  requireDatabase(path, false);
  return path;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown"; // no passwd entry
  }
}

/**
 * Runs one mutating op on the local database (KEK checked first), audited as cli:<user> in the
 * CLI's own log (`<audit dir>/cli`, audit.ts withCliAudit): durable intent, change, outcome.
 */
export async function admin<R>(
  ctx: CommandContext,
  op: string,
  fn: (svc: TokenService) => [R, AuditInput],
): Promise<R> {
  const config = serviceConfigFrom(ctx.config(serviceEnv));
  assertPrimary(config.litefsDir);
  requireDatabase(config.dbPath, ctx.opts.init === true);
  const store = new DrizzleStore(config.dbPath, native);
  try {
    const svc = new TokenService(store, config, native);
    svc.checkKek();
    return await withCliAudit(config, store, (audit) =>
      runMutation({ store, audit, op, actor: cliActorOf(osUser()), now: Date.now() }, () => fn(svc)),
    );
  } finally {
    store.close();
  }
}

/**
 * A token argument: the text itself, or stdin when it is `-`, so a token need not land in the
 * shell's history. The text is never echoed in an error.
 */
export async function tokenInput(ctx: CommandContext, value: unknown, what: string): Promise<string> {
  const fromStdin = value === undefined || value === "-";
  const text = fromStdin ? (await ctx.readStdin(256 * 1024)).trim() : String(value).trim();
  if (text === "")
    throw CliError.usage(`${what} is empty`, {
      where: what,
      hint: `pass ${what} as an argument, or - to read it from stdin`,
    });
  if (!fromStdin && /\bfm[12]_/.test(text))
    ctx.note(
      `warning: a token given as an argument stays in your shell history; use - as ${what.startsWith("--") ? what : `the ${what}`} to read it from stdin`,
    );
  return text;
}

/**
 * Development only: NODE_ENV=development, or npm start's development env file was loaded (it is
 * never loaded under NODE_ENV=production or outside the repository).
 */
export function isDevelopment(ctx: CommandContext): boolean {
  const nodeEnv = (ctx.env.NODE_ENV ?? "").trim();
  if (nodeEnv === "production") return false;
  return nodeEnv === "development" || ctx.devEnvFile !== null;
}

/** Parses a JSON argument (its text is never echoed: it may hold a token). */
export function parseJSON(s: string, what: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    throw CliError.usage(`${what} is not valid JSON`, { where: what });
  }
}
