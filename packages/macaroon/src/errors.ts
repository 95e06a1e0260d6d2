/**
 * One error tree for @tkdb/macaroon. Every error carries a stable `code`.
 * Messages never contain key, tail, or discharge-key bytes: only public facts
 * (offsets, type numbers, indexes, locations).
 */

export class MacaroonError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Malformed, truncated, non-canonical or wrongly-typed msgpack. */
export class MsgpackError extends MacaroonError {
  /** Byte offset in the decoded input where the problem was found. */
  readonly offset: number;
  constructor(code: MsgpackErrorCode, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}
export type MsgpackErrorCode =
  | "msgpack_truncated"
  | "msgpack_malformed"
  | "msgpack_non_canonical"
  | "msgpack_unexpected_type"
  | "msgpack_invalid_utf8"
  | "msgpack_trailing_bytes"
  | "msgpack_out_of_range";

/** Token string / Authorization header problems: prefix, base64, framing. */
export class FormatError extends MacaroonError {}

/** A size, count or depth limit was exceeded. */
export class LimitError extends MacaroonError {
  readonly limit: string;
  readonly max: number;
  constructor(limit: string, max: number, message: string) {
    super("limit_exceeded", message);
    this.limit = limit;
    this.max = max;
  }
}

/** A caveat body (msgpack or JSON) is invalid for its type, or a caveat cannot be added. */
export class CaveatError extends MacaroonError {}

/**
 * Signature/structure verification failed. `tokenIndex` is the position of the
 * discharge in the `discharges` argument when a discharge is at fault
 * (undefined for the permission token itself); `caveatIndex` the caveat at
 * fault in that token, when known.
 */
export class VerificationError extends MacaroonError {
  readonly caveatIndex: number | undefined;
  readonly dischargeIndex: number | undefined;
  readonly reasons: readonly VerificationError[];
  constructor(
    code: VerificationErrorCode,
    message: string,
    details: { caveatIndex?: number; dischargeIndex?: number; reasons?: readonly VerificationError[] } = {},
  ) {
    super(code, message);
    this.caveatIndex = details.caveatIndex;
    this.dischargeIndex = details.dischargeIndex;
    this.reasons = details.reasons ?? [];
  }
}
export type VerificationErrorCode =
  | "bad_signature"
  | "no_matching_discharge"
  | "discharge_failed"
  | "bad_verifier_key"
  | "bound_to_other_parent"
  | "attestation_in_non_proof"
  | "unfinalized_proof"
  | "nested_third_party";

/** A caveat prohibits an access (or the access itself is malformed). */
export class PermissionError extends MacaroonError {
  /** Caveat type that refused, when a single caveat is at fault. */
  readonly caveatType: bigint | undefined;
  readonly reasons: readonly MacaroonError[];
  constructor(
    message: string,
    details: { caveatType?: bigint; reasons?: readonly MacaroonError[]; code?: string } = {},
  ) {
    super(details.code ?? "permission_denied", message);
    this.caveatType = details.caveatType;
    this.reasons = details.reasons ?? [];
  }
}

/** Crypto failures that are not verification results: bad key sizes, unseal failures, missing backend. */
export class CryptoError extends MacaroonError {}
