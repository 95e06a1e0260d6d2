/**
 * petsem's one error tree. Every error carries a stable `code`; messages are fixed strings chosen
 * here, never built from request input, so a rejected name, a value or a key can never be echoed
 * back (secrets-model.md §3: an error that echoed a "name" once leaked a token).
 */
export type PetsemErrorCode =
  | "config" // bad or missing configuration (startup only)
  | "wrong_kek" // the key-encryption key does not open this database
  | "invalid_request" // malformed arguments
  | "invalid_name" // a name breaks ^[A-Za-z_][A-Za-z0-9_]{0,254}$
  | "reserved_name" // a name uses the reserved FLY_ prefix
  | "too_large" // a value is over the size limit
  | "too_many" // a batch or an app is over its entry limit
  | "cas_mismatch" // check-and-set expectation failed
  | "not_found" // unknown version (rollback)
  | "stale" // this store is behind the caller's min_version
  | "integrity" // a stored ciphertext or wrapped key failed authentication
  | "audit_unavailable" // the audit record could not be written: the operation did not happen
  | "idempotency_mismatch" // a request id was reused with different arguments
  | "unauthorized" // no valid token
  | "forbidden" // the token does not allow this operation
  | "backup" // Litestream (backup/restore) could not be started or failed
  | "unavailable" // a dependency petsem must consult is unreachable (tkdb's revocation feed): refused, retry
  | "internal";

/** The status each code maps to (secrets-model.md §5.2); used by the RPC layer, in one place. */
export const ERROR_STATUS: Readonly<Record<PetsemErrorCode, number>> = {
  config: 500,
  wrong_kek: 500,
  invalid_request: 400,
  invalid_name: 422,
  reserved_name: 422,
  too_large: 413,
  too_many: 413,
  cas_mismatch: 409,
  not_found: 404,
  stale: 503,
  integrity: 500,
  audit_unavailable: 503,
  idempotency_mismatch: 422,
  unauthorized: 401,
  forbidden: 403,
  backup: 500,
  unavailable: 503,
  internal: 500,
};

/** Non-secret facts an error may carry (limits, current versions). Never names or values. */
export type PetsemErrorDetails = Readonly<Record<string, number | string | boolean>>;

export class PetsemError extends Error {
  readonly code: PetsemErrorCode;
  readonly details: PetsemErrorDetails | undefined;

  constructor(
    code: PetsemErrorCode,
    message: string,
    options?: { details?: PetsemErrorDetails; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PetsemError";
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** The wire form: `{code, message, ...details}`. */
  toJSON(): { code: PetsemErrorCode; message: string } & Record<string, unknown> {
    return { ...(this.details ?? {}), code: this.code, message: this.message };
  }
}

export function isPetsemError(e: unknown, code?: PetsemErrorCode): e is PetsemError {
  return e instanceof PetsemError && (code === undefined || e.code === code);
}
