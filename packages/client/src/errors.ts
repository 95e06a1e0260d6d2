/**
 * The one error tree of @tkdb/client. Every error carries a stable `code`; none carries a token,
 * tail or key.
 */
export class ClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** No endpoint answered (after retries and failover). Verification never passes on this. */
export class UnavailableError extends ClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
  }
}

/** The authority (or the local cache, for a revoked lineage) refused the token. */
export class TokenRefusedError extends ClientError {}

/** A bad argument from the caller of this library. */
export class ClientArgumentError extends ClientError {
  constructor(message: string) {
    super("bad_argument", message);
  }
}
