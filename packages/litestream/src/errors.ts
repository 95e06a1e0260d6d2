/**
 * The package's one error tree. Codes are names from the services' shared vocabulary
 * (@tkdb/service errors-codes.ts), so an app maps a LitestreamError to its own error by code
 * without a table of its own. Messages are fixed text plus paths and Litestream's own one-line
 * reason (paths and positions, never database content); no key or credential is ever in one.
 */
export type LitestreamErrorCode =
  /** a bad option: a relative or malformed path, URL, duration or timestamp */
  | "invalid_request"
  /** the binary is not installed, or an operator's config does not replicate the database */
  | "config"
  /** the output exists, or another replicator of the database is running */
  | "conflict"
  /** no backup of that database (at that time), or no such export file */
  | "not_found"
  /** Litestream failed: did not start, did not become ready, did not shut down cleanly, restore failed */
  | "backup";

/** Non-secret facts: exit codes, signal names, counts, durations. */
export type LitestreamErrorDetails = Readonly<Record<string, number | string | boolean>>;

export class LitestreamError extends Error {
  readonly code: LitestreamErrorCode;
  readonly details: LitestreamErrorDetails | undefined;

  constructor(
    code: LitestreamErrorCode,
    message: string,
    options: { details?: LitestreamErrorDetails; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
  }
}

export function isLitestreamError(e: unknown, code?: LitestreamErrorCode): e is LitestreamError {
  return e instanceof LitestreamError && (code === undefined || e.code === code);
}
