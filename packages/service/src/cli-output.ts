/**
 * What the CLI runner prints: results (readable by default, JSON with --json), errors (what
 * failed, where, what to do next) and the exit code each error means. Documented exit codes:
 *
 * | code | meaning |
 * |---|---|
 * | 0 | ok |
 * | 1 | refused: the service or the local check said no (bad token, forbidden, broken chain, …) |
 * | 2 | usage: a wrong command, flag or argument, or a bad or missing environment variable |
 * | 3 | unreachable: the service could not be reached or is unavailable; retry later |
 */

import { ConfigError, ServiceError } from "./errors.js";
import { type CodeInfo, codeIs, ERROR_CODES, type ErrorCode, isErrorCode } from "./errors-codes.js";
import { scrubString } from "./log-redact.js";

export const EXIT_CODES = Object.freeze({ ok: 0, refused: 1, usage: 2, unreachable: 3 });
export type CliErrorKind = "refused" | "usage" | "unreachable";

/** An error a command throws to choose its exit code and say where and what next. */
export class CliError extends Error {
  readonly kind: CliErrorKind;
  /** The URL, path, variable or flag concerned. */
  readonly where: string | undefined;
  /** What to do next. */
  readonly hint: string | undefined;
  /** A vocabulary code, when one applies (shown, and sent with --json). */
  readonly code: string | undefined;

  constructor(
    kind: CliErrorKind,
    message: string,
    opts: { where?: string; hint?: string; code?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.where = opts.where;
    this.hint = opts.hint;
    this.code = opts.code;
  }

  static usage(message: string, opts: { where?: string; hint?: string } = {}): CliError {
    return new CliError("usage", message, opts);
  }
  static refused(message: string, opts: { where?: string; hint?: string; code?: string } = {}): CliError {
    return new CliError("refused", message, opts);
  }
  static unreachable(
    message: string,
    opts: { where?: string; hint?: string; cause?: unknown } = {},
  ): CliError {
    return new CliError("unreachable", message, opts);
  }
}

/** Where a server was told to listen: the address and the variables that chose it. */
export interface ListenSite {
  readonly app: string;
  readonly host: string;
  readonly port: number;
  /** e.g. TKDB_HOST, PETSEM_HOST */
  readonly hostVar: string;
  /** e.g. TKDB_PORT, PETSEM_PORT */
  readonly portVar: string;
}

/**
 * A failure to listen, as both apps' `serve` report it: a port in use (or an address not ours to
 * bind) names the port and the variable that chose it (exit 1). Anything else is returned as is.
 */
export function listenRefusal(e: unknown, site: ListenSite): unknown {
  let code: unknown;
  for (let c = e, i = 0; c !== null && typeof c === "object" && i < 5; c = (c as Error).cause, i++) {
    const k = (c as { code?: unknown }).code;
    const at = (c as { port?: unknown }).port;
    // Another listener's port (a metrics port, say) is not this variable's fault.
    if (typeof at === "number" && at !== site.port) return e;
    if (k === "EADDRINUSE" || k === "EACCES" || k === "EADDRNOTAVAIL") code = k;
  }
  const { app, host, port, hostVar, portVar } = site;
  if (code === "EADDRINUSE")
    return CliError.refused(`port ${port} on ${host} is already in use`, {
      where: `${portVar}=${port}`,
      hint: `stop the other process (another ${app}?), or set ${portVar} to a free port (0: any)`,
    });
  if (code === "EACCES" || code === "EADDRNOTAVAIL")
    return CliError.refused(`cannot listen on ${host}:${port} (${code})`, {
      where: `${hostVar}=${host} ${portVar}=${port}`,
      hint: `choose an address of this machine (${hostVar}) and a port above 1023 (${portVar})`,
    });
  return e;
}

/** Socket-level failures: nothing answered. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);

function unreachable(err: unknown): boolean {
  for (let e = err, i = 0; e !== null && typeof e === "object" && i < 5; e = (e as Error).cause, i++) {
    const code = (e as { code?: unknown }).code;
    const name = (e as { name?: unknown }).name;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (name === "NoiseTransportError" || name === "UnavailableError") return true;
    if (e instanceof ServiceError && codeIs(e.code, "unavailable")) return true;
    if (!(e instanceof ServiceError) && typeof code === "string" && codeIs(code, "unavailable")) return true;
  }
  return false;
}

/** The exit code a thrown value means (0 never: a thrown value is a failure). */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return EXIT_CODES[err.kind];
  if (err instanceof ServiceError && err.code === "config") return EXIT_CODES.usage;
  if (unreachable(err)) return EXIT_CODES.unreachable;
  return EXIT_CODES.refused;
}

export interface ErrorReport {
  readonly code?: string;
  readonly message: string;
  readonly where?: string;
  readonly hint?: string;
  readonly exit: number;
}

const HINTS: Partial<Record<ErrorCode, string>> = {
  unauthorized: "check the token (and its discharges) you passed",
  revoked: "this token was revoked; get a new one",
  forbidden: "use a token or client key allowed to do this",
  unavailable: "retry later; check that the service is running and reachable",
  not_primary: "run the write against the primary",
  wrong_kek: "check the key-encryption key variable",
  integrity: "restore from a backup and investigate; do not keep writing",
};

/** A printable description of any thrown value, with nothing secret in it. */
export function reportError(err: unknown): ErrorReport {
  const exit = exitCodeFor(err);
  if (err instanceof CliError)
    return clean({ code: err.code, message: err.message, where: err.where, hint: err.hint, exit });
  if (err instanceof ConfigError)
    return clean({
      code: "config",
      message: err.problems.map((p) => `${p.variable} ${p.problem}`).join("\n"),
      where: err.problems[0]?.variable,
      hint: err.hint,
      exit,
    });
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as { message?: unknown } | null)?.message;
  if (err instanceof ServiceError || (typeof code === "string" && isErrorCode(code))) {
    const known = isErrorCode(code) ? (ERROR_CODES[code] as CodeInfo) : undefined;
    return clean({
      code: String(code),
      message: typeof message === "string" ? message : (known?.meaning ?? "refused"),
      hint: isErrorCode(code) ? HINTS[code] : undefined,
      exit,
    });
  }
  if (exit === EXIT_CODES.unreachable)
    return clean({
      code: "unavailable",
      message: "the service could not be reached",
      hint: "check the URL variable and that the service is running",
      exit,
    });
  const name = err instanceof Error ? err.name : typeof err;
  return clean({
    message: `unexpected error (${name})${typeof message === "string" ? `: ${message}` : ""}`,
    exit,
  });
}

function clean(r: {
  code?: string | undefined;
  message: string;
  where?: string | undefined;
  hint?: string | undefined;
  exit: number;
}): ErrorReport {
  const out: { code?: string; message: string; where?: string; hint?: string; exit: number } = {
    message: scrubString(r.message),
    exit: r.exit,
  };
  if (r.code !== undefined) out.code = r.code;
  if (r.where !== undefined) out.where = scrubString(r.where);
  if (r.hint !== undefined) out.hint = r.hint;
  return out;
}

/** Human form: `name: error: message` then `  where: …` and `  next: …` lines. */
export function formatErrorHuman(program: string, r: ErrorReport): string {
  const lines = [`${program}: error: ${r.code !== undefined ? `${r.code}: ` : ""}${r.message}`];
  if (r.where !== undefined) lines.push(`  where: ${r.where}`);
  if (r.hint !== undefined) lines.push(`  next: ${r.hint}`);
  return `${lines.join("\n")}\n`;
}

/** JSON that survives bigint and bytes (bytes as base64url). */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString("base64url");
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Set) return [...v];
    return v;
  });
}

/**
 * Readable form of a result: strings as they are; a flat object as aligned `key: value` lines;
 * arrays of strings one per line; anything else as indented JSON.
 */
export function formatHuman(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value.endsWith("\n") ? value : `${value}\n`;
  if (typeof value !== "object") return `${String(value)}\n`;
  if (Array.isArray(value) && value.every((v) => typeof v === "string"))
    return value.map((v) => `${v}\n`).join("");
  const entries = Object.entries(value as Record<string, unknown>);
  const flat = !Array.isArray(value) && entries.every(([, v]) => v === null || typeof v !== "object");
  if (!flat) return `${JSON.stringify(JSON.parse(toJsonText(value)), null, 2)}\n`;
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v === null ? "-" : String(v)}\n`).join("");
}
