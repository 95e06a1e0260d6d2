/**
 * The package's one error tree. Codes are names from the shared vocabulary (packages/service
 * `errors-codes.ts`), so an app maps an `AuditError` to the wire by its code alone:
 *
 * - `invalid_request`: an event or argument the package refuses (a field that could hold key or
 *   token material, a bad id, a non-canonical value). A programming error in the caller.
 * - `audit_unavailable`: the log cannot take the event durably (closed, a failed write or fsync,
 *   which leaves the log refusing everything after it). The operation must not happen.
 * - `integrity`: a log on disk that does not verify (a damaged line, a gap, a truncation).
 * - `idempotency_mismatch`: a request id reused with another op or other arguments.
 * - `unavailable`: a bound is reached (a client's idempotency records) or a remote `_bulk`
 *   endpoint refused: retry later.
 * - `conflict`: a state the caller should not have produced (an outcome for an intent that is not
 *   open, a second record for a live request id).
 *
 * Messages are fixed text plus numbers, file names and field names: never an event's values.
 */
export type AuditErrorCode =
  | "invalid_request"
  | "audit_unavailable"
  | "integrity"
  | "idempotency_mismatch"
  | "unavailable"
  | "conflict";

export class AuditError extends Error {
  override readonly name: string;
  constructor(
    readonly code: AuditErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isAuditError(e: unknown, code?: AuditErrorCode): e is AuditError {
  return e instanceof AuditError && (code === undefined || e.code === code);
}
