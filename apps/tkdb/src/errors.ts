/**
 * tkdb's errors are ServiceErrors (@tkdb/service's one vocabulary): `code` is the canonical code
 * (status, CLI exit code, retryability), and `wireCode` is tkdb's own name for the refusal, which
 * is what clients receive. Where the vocabulary renamed a code (bad_token → unauthorized, …) tkdb
 * keeps sending the old name for now: clients and tests match it, and @tkdb/service's alias table
 * (`codeIs`, `canonicalCode`) maps each old name to its canonical code. Messages never contain
 * secrets (they travel to the client).
 */
import { canonicalCode, type ErrorCode, ServiceError } from "@tkdb/service";

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

export class TkdbError extends ServiceError {
  /** The code on the wire and in the CLI's message: tkdb's name, an accepted alias of `code`. */
  readonly wireCode: TkdbErrorCode;
  constructor(
    code: TkdbErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string> } = {},
  ) {
    super(canonicalCode(code) as ErrorCode, message, options);
    this.wireCode = code;
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

/** A refusal as the Noise handler sends it: tkdb's wire code and the message. */
class WireRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "WireRefusal";
  }
}

/** What an op rethrows for the Noise handler: a TkdbError under its wire code; anything else as is. */
export function forWire(err: unknown): unknown {
  return err instanceof TkdbError ? new WireRefusal(err.wireCode, err.message) : err;
}
