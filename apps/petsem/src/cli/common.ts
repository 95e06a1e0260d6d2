/**
 * What several petsem commands share: the local database they open, who ran them (for the
 * audit), and option parsers. Nothing here prints; commands return values and the runner
 * (@tkdb/service runCli) prints them.
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { CliError, type CommandContext, KindError } from "@tkdb/service";
import { loadConfig, type PetsemConfig } from "../env.js";

/** `--org`/`--app`: an id in 1..2^64-1 (what the RPCs accept), digits only. */
export function uint64Parser(text: string): bigint {
  if (!/^\d{1,20}$/.test(text)) throw new KindError("must be an id in 1..2^64-1");
  const v = BigInt(text);
  if (v < 1n || v >= 1n << 64n) throw new KindError("must be an id in 1..2^64-1");
  return v;
}

/** `--ttl`: whole seconds, 1 second to 10 years. */
export function ttlParser(text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new KindError("must be a whole number of seconds");
  const v = Number(text);
  if (v < 1 || v > 10 * 365 * 86_400) throw new KindError("must be 1 second to 10 years");
  return v;
}

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** `--timestamp`: a full RFC 3339 time with a zone, e.g. 2026-01-02T03:04:05Z. */
export function rfc3339Parser(text: string): Date {
  const d = new Date(text);
  if (!RFC3339_RE.test(text) || Number.isNaN(d.getTime()))
    throw new KindError("must be an RFC 3339 time such as 2026-01-02T03:04:05Z");
  return d;
}

/**
 * Local admin commands never create a database they were not asked to create: opening a
 * missing file would make an empty database (with fresh keys) that no server uses.
 */
export function requireDatabase(file: string, init = false): void {
  if (init || existsSync(file)) return;
  throw CliError.refused(`no petsem database at ${file}`, {
    where: file,
    hint: "check PETSEM_DATA_DIR (run `petsem serve` once, or pass --init to create the database)",
  });
}

/** Who ran a local command, for the audit (`cli:<os user>`). */
export function localUser(): string {
  try {
    return (
      userInfo()
        .username.replace(/[^A-Za-z0-9._-]/g, "_")
        .slice(0, 64) || "unknown"
    );
  } catch {
    return "unknown";
  }
}

/** The configuration from the command's environment; warnings (old names, loose key files) to stderr. */
export function petsemConfig(ctx: CommandContext, opts: { requireNoiseKey?: boolean } = {}): PetsemConfig {
  return loadConfig(ctx.env, { ...opts, onWarning: (w) => ctx.stderr.write(`petsem: warning: ${w}\n`) });
}
