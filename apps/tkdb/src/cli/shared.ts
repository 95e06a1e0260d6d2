/**
 * What the tkdb commands share: the bridge from TkdbError to the runner's exit codes, the local
 * admin transaction (KEK checked, audited as cli:<user>), the online Noise call, and output.
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { getNative, noiseCall } from "@tkdb/noise";
import { CliError, type CommandContext, EXIT_CODES, exitCodeFor } from "@tkdb/service";
import { native } from "../crypto.js";
import { clientEnv, dbPathOf, serviceConfigFrom, serviceEnv, storeEnv } from "../env.js";
import { TkdbError } from "../errors.js";
import { assertPrimary } from "../litefs.js";
import { runMutation } from "../mutate.js";
import { type AuditInput, DrizzleStore } from "../store.js";
import { TokenService } from "../tokens.js";

/**
 * Runs a command body. A TkdbError keeps its exit code (from its canonical code: `config` is a
 * usage error, `not_primary` an unavailable one, the rest refusals) and shows tkdb's own code,
 * the one the server sends too (`tkdb: error: bad_caveats: …`, and in --json errors).
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
      throw new CliError(kind, e.message, { code: e.wireCode, cause: e });
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

/** Runs one mutating op on the local database (KEK checked first), audited as cli:<user>. */
export function admin<R>(ctx: CommandContext, op: string, fn: (svc: TokenService) => [R, AuditInput]): R {
  const config = serviceConfigFrom(ctx.config(serviceEnv));
  assertPrimary(config.litefsDir);
  requireDatabase(config.dbPath, ctx.opts.init === true);
  const store = new DrizzleStore(config.dbPath, native);
  try {
    const svc = new TokenService(store, config, native);
    svc.checkKek();
    return runMutation({ store, op, actor: `cli:${osUser()}`, now: Date.now() }, () => fn(svc));
  } finally {
    store.close();
  }
}

/** One RPC to a running tkdb: verify over IK (anyone), sign over KK (a listed client key). */
export async function call(
  ctx: CommandContext,
  api: "verify" | "sign",
  op: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  const c = ctx.config(clientEnv);
  if (c.serverPublicKey === undefined)
    throw CliError.usage("set TKDB_SERVER_PUBLIC_KEY (the server's Noise public key, hex)", {
      where: "TKDB_SERVER_PUBLIC_KEY",
    });
  if (api === "verify")
    return noiseCall({ url: c.url, api, op, args, pattern: "IK", serverPublicKey: c.serverPublicKey });
  if (c.clientKey === undefined)
    throw CliError.usage("set TKDB_CLIENT_KEY (hex) for signing commands", { where: "TKDB_CLIENT_KEY" });
  const nc = getNative();
  if (nc === undefined) throw CliError.refused("this Node has no X25519 in node:crypto");
  const clientStaticKey = { secretKey: c.clientKey, publicKey: nc.publicKeyOf(c.clientKey) };
  return noiseCall({
    url: c.url,
    api,
    op,
    args,
    pattern: "KK",
    serverPublicKey: c.serverPublicKey,
    clientStaticKey,
  });
}

/** Parses a JSON argument (its text is never echoed: it may hold a token). */
export function parseJSON(s: string, what: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    throw CliError.usage(`${what} is not valid JSON`, { where: what });
  }
}
