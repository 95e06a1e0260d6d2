/**
 * The one error vocabulary of tkdb and petsem: petsem's names for both apps, the Noise layer's
 * codes unchanged, and tkdb's old names kept as accepted aliases. The README's "Error codes"
 * table is this file in prose; a test checks they agree.
 *
 * `status` is an HTTP-like number for logs, metrics and any plain-HTTP endpoint. Over HTTP/Noise
 * every answer after authentication is an encrypted 200 and the code travels inside it.
 *
 * `parent` makes the codes a tree (like superfly/macaroon's one error tree): a client that asks
 * "is this `unauthorized`?" also gets true for `revoked`, one that asks "`unavailable`?" also for
 * `not_primary` and `stale`. `wire: false` codes describe server failures: on the wire they become
 * a bare `internal` (the log has the code and the cause).
 */

export interface CodeInfo {
  readonly status: number;
  readonly meaning: string;
  /** The broader code this one refines (a key of ERROR_CODES; checked by a test). */
  readonly parent?: string;
  /** false: never sent to a client as such (becomes `internal`). Default true. */
  readonly wire?: boolean;
  /** Sent by @tkdb/noise itself, before or around the op (unchanged by this package). */
  readonly noise?: boolean;
  /** A client may retry the same request (same rid) later or elsewhere. */
  readonly retryable?: boolean;
}

export const ERROR_CODES = {
  // The request itself is wrong: fix it, do not retry as is.
  invalid_request: { status: 400, meaning: "malformed or missing arguments" },
  invalid_name: { status: 422, meaning: "a name breaks the naming rule", parent: "invalid_request" },
  reserved_name: { status: 422, meaning: "a name uses a reserved prefix", parent: "invalid_request" },
  too_large: { status: 413, meaning: "a value or request is over its size limit", parent: "invalid_request" },
  too_many: {
    status: 413,
    meaning: "a batch or collection is over its entry limit",
    parent: "invalid_request",
  },
  // Who is asking, and may they.
  unauthorized: { status: 401, meaning: "no valid token: malformed, wrong key, bad signature, expired" },
  revoked: {
    status: 401,
    meaning: "the token (or one it descends from) was revoked",
    parent: "unauthorized",
  },
  forbidden: { status: 403, meaning: "the token or client key does not allow this operation" },
  // State.
  not_found: { status: 404, meaning: "no such org, app, secret or version" },
  conflict: { status: 409, meaning: "the request conflicts with the current state" },
  cas_mismatch: { status: 409, meaning: "a check-and-set expectation failed", parent: "conflict" },
  idempotency_mismatch: {
    status: 422,
    meaning: "a request id was reused with different arguments",
    parent: "conflict",
  },
  // The service cannot answer now: retry later or elsewhere.
  unavailable: {
    status: 503,
    meaning: "a dependency or the service is busy or unreachable",
    retryable: true,
  },
  not_primary: {
    status: 503,
    meaning: "this node is a replica; writes go to the primary",
    parent: "unavailable",
    retryable: true,
  },
  stale: {
    status: 503,
    meaning: "this node is behind the requested minimum version",
    parent: "unavailable",
    retryable: true,
  },
  audit_unavailable: {
    status: 503,
    meaning: "the audit record could not be written, so the operation did not happen",
    parent: "unavailable",
    retryable: true,
  },
  // The service failed.
  internal: { status: 500, meaning: "unexpected failure (details only in the server's log)" },
  integrity: {
    status: 500,
    meaning: "stored data failed authentication or a hash chain is broken",
    parent: "internal",
  },
  config: {
    status: 500,
    meaning: "bad or missing configuration (startup, CLI)",
    parent: "internal",
    wire: false,
  },
  wrong_kek: {
    status: 500,
    meaning: "the key-encryption key does not open this database",
    parent: "internal",
    wire: false,
  },
  storage: {
    status: 500,
    meaning: "the database cannot be opened or written",
    parent: "internal",
    wire: false,
  },
  backup: { status: 500, meaning: "Litestream backup or restore failed", parent: "internal", wire: false },
  // HTTP/Noise framing (@tkdb/noise SERVER_ERROR_CODES): sent by the Noise handler, unchanged.
  bad_request: {
    status: 400,
    meaning: "the Noise request payload is malformed (app code: invalid_request)",
    parent: "invalid_request",
    noise: true,
  },
  op_mismatch: {
    status: 400,
    meaning: "the op in the payload differs from the path",
    parent: "invalid_request",
    noise: true,
  },
  stale_request: {
    status: 400,
    meaning: "the request timestamp is outside the replay window (check the clock)",
    parent: "invalid_request",
    noise: true,
  },
  replay: { status: 409, meaning: "this handshake message was already processed", noise: true },
  unknown_op: { status: 404, meaning: "no such operation", parent: "invalid_request", noise: true },
  forward_secrecy_required: {
    status: 400,
    meaning: "this operation must be sent inside a Noise session",
    parent: "invalid_request",
    noise: true,
  },
  response_too_large: {
    status: 500,
    meaning: "the response is too large to frame",
    parent: "internal",
    noise: true,
  },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Old names, still accepted wherever a code is read (clients, tests, logs). The service sends
 * the canonical name; `canonicalCode("bad_token") === "unauthorized"`.
 *
 * | old (tkdb) | now | why |
 * |---|---|---|
 * | bad_caveats | invalid_request | the caveats argument of mint is malformed or not mintable |
 * | bad_token | unauthorized | the header holds no usable permission token |
 * | verification_failed | unauthorized | signature, caveat or validity window check failed |
 * | unknown_key | unauthorized | the token's key id is unknown or retired: as good as a forgery |
 * | unknown_org | not_found | no root key for that org |
 * | corrupt | integrity | a sealed row does not open with the KEK |
 * | audit_broken | integrity | the audit hash chain does not verify |
 *
 * `bad_request` is not an alias: @tkdb/noise still sends it for a malformed envelope, so it stays
 * a code of its own (a child of `invalid_request`); tkdb's app-level uses of it become
 * `invalid_request`.
 */
export const ERROR_CODE_ALIASES: Readonly<Record<string, ErrorCode>> = Object.freeze({
  bad_caveats: "invalid_request",
  bad_token: "unauthorized",
  verification_failed: "unauthorized",
  unknown_key: "unauthorized",
  unknown_org: "not_found",
  corrupt: "integrity",
  audit_broken: "integrity",
});

/** Every code a client may receive: canonical, Noise and the old aliases (for matching). */
export const CLIENT_ERROR_CODES: readonly string[] = Object.freeze([
  ...Object.keys(ERROR_CODES).filter((c) => (ERROR_CODES[c as ErrorCode] as CodeInfo).wire !== false),
  ...Object.keys(ERROR_CODE_ALIASES),
]);

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}

/** The canonical code for a code or an old alias; undefined for anything else. */
export function canonicalCode(code: unknown): ErrorCode | undefined {
  if (isErrorCode(code)) return code;
  if (typeof code === "string" && Object.hasOwn(ERROR_CODE_ALIASES, code)) return ERROR_CODE_ALIASES[code];
  return undefined;
}

export function codeInfo(code: ErrorCode): CodeInfo {
  return ERROR_CODES[code];
}

/** HTTP-like status of a code or alias (500 for anything unknown). */
export function statusOf(code: unknown): number {
  const c = canonicalCode(code);
  return c === undefined ? 500 : ERROR_CODES[c].status;
}

/** An old name of ERROR_CODE_ALIASES a client may still match (`bad_request` is a code itself). */
export type AliasName = "bad_caveats" | "bad_token" | "verification_failed" | "unknown_key" | "unknown_org";

/**
 * True when `received` is `wanted` or refines it. `received` is a code from the wire (canonical or
 * old) or an error object carrying `code` and maybe `alias` (a NoiseRemoteError, a WireError):
 * `codeIs("revoked", "unauthorized")`, `codeIs("bad_token", "unauthorized")`,
 * `codeIs("not_primary", "unavailable")` are all true. An old name as `wanted` matches exactly:
 * `codeIs({code: "unauthorized", alias: "bad_token"}, "bad_token")` is true, while an
 * `unauthorized` sent under another old name (`verification_failed`) is not a `bad_token`.
 */
export function codeIs(received: unknown, wanted: ErrorCode | AliasName): boolean {
  let code: unknown = received;
  if (typeof received === "object" && received !== null) {
    const r = received as { code?: unknown; alias?: unknown };
    if (r.alias === wanted) return true;
    code = r.code;
  }
  if (code === wanted) return true;
  let c: ErrorCode | undefined = canonicalCode(code);
  for (let i = 0; c !== undefined && i < 8; i++) {
    if (c === wanted) return true;
    c = (ERROR_CODES[c] as CodeInfo).parent as ErrorCode | undefined;
  }
  return false;
}

/** True for codes a client may retry (same rid), later or at another endpoint. */
export function isRetryable(code: unknown): boolean {
  const c = canonicalCode(code);
  return c !== undefined && (ERROR_CODES[c] as CodeInfo).retryable === true;
}
