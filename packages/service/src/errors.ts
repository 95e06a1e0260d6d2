/**
 * The one error tree of both services: `ServiceError(code, message, {status, details, cause})`.
 * Codes and their meaning live in errors-codes.ts. Messages are fixed text chosen by the code that
 * throws, never built from request input (an error that echoed a "name" once leaked a token:
 * secrets-model.md §2.3); `toWire` still scrubs them, and sends only allow-listed details.
 */
import { type CodeInfo, canonicalCode, ERROR_CODES, type ErrorCode, isErrorCode } from "./errors-codes.js";
import { containsMaterial, scrubString } from "./log-redact.js";

/** Non-secret facts an error may carry to the client: limits, versions, the argument at fault. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean>>;

export interface ServiceErrorOptions {
  /** Overrides the code's status (rarely right: the table is the point). */
  readonly status?: number;
  readonly details?: ErrorDetails;
  readonly cause?: unknown;
  /**
   * The old name of this refusal (`bad_token` for an `unauthorized`, …): sent beside the code as
   * `alias`, so a client that matches the old name still finds it. Must differ from `code`.
   */
  readonly alias?: string;
}

const CODE_SHAPE = /^[a-z][a-z0-9_]{0,63}$/;

export class ServiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;
  readonly alias: string | undefined;

  constructor(code: ErrorCode, message: string, options: ServiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!isErrorCode(code)) throw new TypeError(`unknown error code ${String(code)}`);
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.details = options.details;
    const alias = options.alias;
    this.alias = alias !== undefined && alias !== code && CODE_SHAPE.test(alias) ? alias : undefined;
  }

  /** The wire form (same as `toWire(this)`), so JSON.stringify never leaks the cause. */
  toJSON(): WireError {
    return toWire(this);
  }
}

/** One problem in a configuration: the variable (or flag, or file) and what is wrong with it. */
export interface ConfigProblem {
  readonly variable: string;
  readonly problem: string;
}

/**
 * Invalid configuration (code `config`). Lists every problem found, each naming the variable and
 * what is wrong, never its value. `hint` says what to do next.
 */
export class ConfigError extends ServiceError {
  readonly problems: readonly ConfigProblem[];
  readonly hint: string | undefined;

  constructor(problems: readonly ConfigProblem[], options: { hint?: string; cause?: unknown } = {}) {
    const text = problems.map((p) => `${p.variable}: ${p.problem}`).join("; ");
    super("config", problems.length === 1 ? text : `${problems.length} configuration problems: ${text}`, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      details: { variable: problems[0]?.variable ?? "" },
    });
    this.problems = problems;
    this.hint = options.hint;
  }
}

export function isServiceError(e: unknown, code?: ErrorCode): e is ServiceError {
  return e instanceof ServiceError && (code === undefined || e.code === code);
}

/**
 * What a client receives: `{code, message, alias?, details?}`. `code` is canonical; `alias` the
 * old name of the same refusal, for clients that still match it.
 */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly alias?: string;
  readonly details?: ErrorDetails;
}

const INTERNAL: WireError = Object.freeze({ code: "internal", message: "internal error" });

type DetailRule = (v: string | number | boolean) => boolean;
const count: DetailRule = (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const ident: DetailRule = (v) => typeof v === "string" && /^[A-Za-z_][A-Za-z0-9_.[\]-]{0,63}$/.test(v);
const url: DetailRule = (v) => {
  if (typeof v !== "string" || v.length > 512 || !/^[\x21-\x7e]+$/.test(v)) return false;
  try {
    const u = new URL(v);
    return u.username === "" && u.password === "";
  } catch {
    return false;
  }
};
const host: DetailRule = (v) => typeof v === "string" && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(v);

/**
 * The details a client may see, each with the shape it must have. Anything else is dropped, as is
 * any string that looks like material (a token, a key) whatever its key.
 */
export const WIRE_DETAIL_RULES: Readonly<Record<string, DetailRule>> = Object.freeze({
  limit: count,
  max: count,
  min: count,
  count,
  index: count,
  current_version: count,
  current_app_version: count,
  app_version: count,
  min_version: count,
  expected_version: count,
  retry_after_ms: count,
  field: ident,
  variable: ident,
  reason: ident,
  op: ident,
  location: url,
  primary: host,
});

/** Only allow-listed details of the right shape, with no material-looking string among them. */
export function wireDetails(details: ErrorDetails | undefined): ErrorDetails | undefined {
  if (details === undefined) return undefined;
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(details)) {
    const rule = Object.hasOwn(WIRE_DETAIL_RULES, k) ? WIRE_DETAIL_RULES[k] : undefined;
    if (rule === undefined || !rule(v)) continue;
    if (typeof v === "string" && containsMaterial(v)) continue;
    out[k] = v;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/**
 * The client-facing form of any thrown value. A ServiceError keeps its code, its (scrubbed)
 * message and its allow-listed details, unless its code is a server failure (`wire: false`: config,
 * wrong_kek, storage, backup), which becomes a bare `internal`. Anything else is `internal` too:
 * an unknown error's message may quote input.
 */
export function toWire(err: unknown): WireError {
  if (!(err instanceof ServiceError)) return INTERNAL;
  if ((ERROR_CODES[err.code] as CodeInfo).wire === false) return INTERNAL;
  const details = wireDetails(err.details);
  const message = scrubString(err.message);
  return {
    code: err.code,
    message,
    ...(err.alias === undefined ? {} : { alias: err.alias }),
    ...(details === undefined ? {} : { details }),
  };
}

/**
 * What an app's op rethrows for the Noise handler (@tkdb/noise sends a coded error's `code`,
 * `message`, `alias` and `details`): a refusal in its wire form (`toWire`: details allow-listed,
 * message scrubbed). A server failure (`wire: false`: config, wrong_kek, storage, backup) and
 * anything that is not a ServiceError go on as an error without a code, which the handler reports
 * to the server's own log and answers with a bare `internal`.
 */
export class WireRefusal extends Error {
  readonly code: string;
  readonly alias: string | undefined;
  readonly details: ErrorDetails | undefined;
  constructor(wire: WireError, options?: { cause?: unknown }) {
    super(wire.message, options);
    this.name = "WireRefusal";
    this.code = wire.code;
    this.alias = wire.alias;
    this.details = wire.details;
  }
}

export function forWire(err: unknown): unknown {
  if (!(err instanceof ServiceError)) return err;
  if ((ERROR_CODES[err.code] as CodeInfo).wire === false)
    return new Error(`${err.code}: ${scrubString(err.message)}`, { cause: err });
  return new WireRefusal(toWire(err), { cause: err });
}

export interface ParsedWireError {
  code: string;
  canonical: ErrorCode | undefined;
  message: string;
  alias?: string;
  details?: ErrorDetails;
}

/**
 * Parses an error object received from a service (`unknown` in). `code` is the code as sent;
 * `canonical` its canonical name (undefined for a code this version does not know: treat as a
 * refusal). Only string codes of a sane shape are accepted; a malformed body gives undefined.
 */
export function parseWireError(value: unknown): ParsedWireError | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { code, message, details, alias } = value as Record<string, unknown>;
  if (typeof code !== "string" || !CODE_SHAPE.test(code)) return undefined;
  const out: ParsedWireError = {
    code,
    canonical: canonicalCode(code),
    message: typeof message === "string" ? message.slice(0, 1024) : code,
  };
  if (typeof alias === "string" && alias !== code && CODE_SHAPE.test(alias)) out.alias = alias;
  if (typeof details === "object" && details !== null && !Array.isArray(details)) {
    const kept: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(details as Record<string, unknown>))
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") kept[k] = v;
    const d = wireDetails(kept);
    if (d !== undefined) out.details = d;
  }
  return out;
}
