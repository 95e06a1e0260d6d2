/**
 * tkdb's errors are ServiceErrors (@tkdb/service's one vocabulary). A TkdbError is raised under
 * tkdb's own name for the refusal (`bad_token`, `unknown_org`, …); `code` is the canonical code
 * (`unauthorized`, `not_found`, …), which is what clients receive, and `alias` the old name when it
 * differs, sent beside the code so a client that matches the old name still finds it (`codeIs`).
 * `bad_request`, which @tkdb/noise also sends for a malformed envelope, becomes `invalid_request`
 * (alias `bad_request`) when tkdb raises it. Messages never contain secrets (they travel to the
 * client).
 */
import { canonicalCode, type ErrorCode, ServiceError } from "@tkdb/service";

export { forWire } from "@tkdb/service";

export type TkdbErrorCode =
  | "config"
  | "bad_request"
  | "invalid_request"
  | "bad_token"
  | "unauthorized"
  | "bad_caveats"
  | "unknown_key"
  | "unknown_org"
  | "not_found"
  | "verification_failed"
  | "revoked"
  | "forbidden"
  | "idempotency_mismatch"
  | "not_primary"
  | "wrong_kek"
  | "corrupt"
  | "integrity"
  | "audit_broken"
  | "storage";

/** The canonical code tkdb sends for one of its names. */
function canonicalOf(code: TkdbErrorCode): ErrorCode {
  return code === "bad_request" ? "invalid_request" : (canonicalCode(code) as ErrorCode);
}

export class TkdbError extends ServiceError {
  /** tkdb's own name for the refusal, as raised (equal to `code` when it has no old name). */
  readonly tkdbCode: TkdbErrorCode;
  constructor(
    code: TkdbErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string> } = {},
  ) {
    const canonical = canonicalOf(code);
    super(canonical, message, { ...options, ...(canonical === code ? {} : { alias: code }) });
    this.tkdbCode = code;
  }
}

/** Invalid configuration. The message names the variable, never its value. */
export class ConfigError extends TkdbError {
  constructor(message: string) {
    super("config", message);
  }
}

export class NotPrimaryError extends TkdbError {
  constructor(readonly primary: string) {
    super("not_primary", `this node is a replica; writes go to the primary ${primary}`, {
      details: { primary },
    });
  }
}

export function badRequest(message: string): TkdbError {
  return new TkdbError("bad_request", message);
}
