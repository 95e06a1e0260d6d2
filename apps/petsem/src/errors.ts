/**
 * petsem's errors are @tkdb/service's one error tree: `PetsemError` is a `ServiceError` whose code
 * is one of the codes below, all from the shared vocabulary (packages/service/README.md "Error
 * codes"), with the table's status. Messages are fixed strings chosen by the thrower, never built
 * from request input, so a rejected name, a value or a key can never be echoed back
 * (secrets-model.md §3: an error that echoed a "name" once leaked a token). The wire codes are the
 * ones petsem always sent: the Noise layer passes `code` and `message` through unchanged.
 */
import { type ErrorDetails, ServiceError, statusOf } from "@tkdb/service";

/** The codes petsem throws (a subset of the shared vocabulary). */
export type PetsemErrorCode =
  | "config" // bad or missing configuration (startup, CLI; never on the wire)
  | "wrong_kek" // the key-encryption key does not open this database
  | "invalid_request" // malformed arguments
  | "invalid_name" // a name breaks ^[A-Za-z_][A-Za-z0-9_]{0,254}$
  | "reserved_name" // a name uses the reserved FLY_ prefix
  | "too_large" // a value is over the size limit
  | "too_many" // a batch or an app is over its entry limit
  | "cas_mismatch" // check-and-set expectation failed
  | "conflict" // the request conflicts with the current state (a deploy below the recorded one)
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

const CODES: readonly PetsemErrorCode[] = [
  "config",
  "wrong_kek",
  "invalid_request",
  "invalid_name",
  "reserved_name",
  "too_large",
  "too_many",
  "cas_mismatch",
  "conflict",
  "not_found",
  "stale",
  "integrity",
  "audit_unavailable",
  "idempotency_mismatch",
  "unauthorized",
  "forbidden",
  "backup",
  "unavailable",
  "internal",
];

/** The status each code maps to: the shared table's (one place, @tkdb/service errors-codes.ts). */
export const ERROR_STATUS: Readonly<Record<PetsemErrorCode, number>> = Object.freeze(
  Object.fromEntries(CODES.map((c) => [c, statusOf(c)])) as Record<PetsemErrorCode, number>,
);

/** Non-secret facts an error may carry (limits, current versions). Never names or values. */
export type PetsemErrorDetails = ErrorDetails;

export class PetsemError extends ServiceError {
  declare readonly code: PetsemErrorCode;

  constructor(
    code: PetsemErrorCode,
    message: string,
    options?: { details?: PetsemErrorDetails; cause?: unknown },
  ) {
    super(code, message, {
      ...(options?.details === undefined ? {} : { details: options.details }),
      ...(options?.cause === undefined ? {} : { cause: options.cause }),
    });
  }
}

export function isPetsemError(e: unknown, code?: PetsemErrorCode): e is PetsemError {
  return e instanceof PetsemError && (code === undefined || e.code === code);
}
