/**
 * tkdb's one error tree. Every error carries a `code`; over Noise the code and message travel
 * to the client (so messages never contain secrets), everything else becomes `internal`.
 */
export type TkdbErrorCode =
  | "config"
  | "bad_request"
  | "bad_token"
  | "bad_caveats"
  | "unknown_key"
  | "unknown_org"
  | "verification_failed"
  | "revoked"
  | "forbidden"
  | "idempotency_mismatch"
  | "not_primary"
  | "wrong_kek"
  | "corrupt"
  | "audit_broken"
  | "storage";

export class TkdbError extends Error {
  override readonly name: string = "TkdbError";
  constructor(
    readonly code: TkdbErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Invalid configuration. The message names the variable, never its value. */
export class ConfigError extends TkdbError {
  override readonly name = "ConfigError";
  constructor(message: string) {
    super("config", message);
  }
}

export class NotPrimaryError extends TkdbError {
  override readonly name = "NotPrimaryError";
  constructor(readonly primary: string) {
    super("not_primary", `this node is a replica; writes go to the primary ${primary}`);
  }
}

export function badRequest(message: string): TkdbError {
  return new TkdbError("bad_request", message);
}
