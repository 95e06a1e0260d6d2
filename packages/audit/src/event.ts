/**
 * The audit event: one format for tkdb and petsem, and the check that keeps material out of it.
 *
 * A line of the log is the canonical JSON (canonical.ts) of one `AuditLine`. The caller gives an
 * `AuditEventInput` (kind, op, actor, outcome, code and typed identity fields); the writer adds the
 * envelope (`v`, `seq`, `ts`, `node`, `prev`, `hash`). There is no free-form field: every field
 * is listed in `AUDIT_FIELDS` with its type, and `parseEventInput` refuses any other key, any value
 * of the wrong type, and any text that looks like key or token material (material.ts). Tokens are
 * named by `tokenRef` (token-ref.ts), never carried.
 */
import { AuditError } from "./errors.js";
import { looksLikeMaterial } from "./material.js";
import { isNonceRef } from "./token-ref.js";

export const AUDIT_FORMAT_VERSION = 1;

/** `checkpoint` and `counter` are written by the log itself; callers write the first three. */
export const AUDIT_KINDS = ["intent", "outcome", "event", "checkpoint", "counter"] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** `aborted`: an intent whose effect never committed (found by `reconcile` after a crash). */
export const AUDIT_OUTCOMES = ["ok", "refused", "error", "aborted"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Every field a line (or a shipped document, see `AUDIT_DOC_FIELDS`) may hold, with its
 * OpenSearch type. infra/audit/opensearch-template.json maps exactly these; a test checks it.
 */
export const AUDIT_FIELDS = {
  v: "integer",
  seq: "long",
  ts: "date",
  node: "keyword",
  kind: "keyword",
  op: "keyword",
  outcome: "keyword",
  code: "keyword",
  actor: "keyword",
  subject: "keyword",
  org: "keyword",
  app: "keyword",
  rid: "keyword",
  user: "keyword",
  kid: "keyword",
  nonce: "keyword",
  tail_sha256_prefix: "keyword",
  parent_nonce: "keyword",
  location: "keyword",
  names: "keyword",
  version: "long",
  count: "long",
  cursor: "long",
  nonces: "keyword",
  required_until: "long",
  intent_seq: "long",
  reconciled: "boolean",
  head_seq: "long",
  head_hash: "keyword",
  open_intents: "long",
  window_start: "date",
  file: "keyword",
  prev: "keyword",
  hash: "keyword",
} as const;
export type AuditField = keyof typeof AUDIT_FIELDS;

/** Typed identity fields a caller may set on any event. */
export interface AuditIds {
  /** What the operation acted on, when no typed field fits (an org/app pair, a key name). */
  readonly subject?: string;
  readonly org?: string;
  readonly app?: string;
  /** The client's request id (idempotency key with the client key). */
  readonly rid?: string;
  /** A user id taken from a trusted authentication discharge. */
  readonly user?: string;
  /** A root key id (standard base64, at most 24 bytes). */
  readonly kid?: string;
  /** From `tokenRef`/`nonceRef`. */
  readonly nonce?: string;
  readonly tail_sha256_prefix?: string;
  /** The nonce of the token this one was made from (strip), as `nonceRef`. */
  readonly parent_nonce?: string;
  /** A third-party location URL (no user info, no query). */
  readonly location?: string;
  /** Secret names (petsem): names only, never values. */
  readonly names?: readonly string[];
  readonly version?: number;
  readonly count?: number;
  readonly cursor?: number;
  /**
   * Every nonce an operation acted on (tkdb `revoke`: the revoked nonce and the derived service
   * tokens' nonces it blacklisted), each as `nonceRef`, at most `MAX_NONCES`: public ids (the
   * revocation feed publishes them), checked as Fly nonces, never free text.
   */
  readonly nonces?: readonly string[];
  /**
   * With `nonces`, one entry per nonce, in the same order: the unix second until which its
   * blacklist row is required (the token's recorded expiry), 0 when it has none (kept forever).
   */
  readonly required_until?: readonly number[];
}

/** The most entries of `nonces` (and `required_until`) on one line. */
export const MAX_NONCES = 100_000;

export interface AuditEventInput extends AuditIds {
  readonly kind: "intent" | "outcome" | "event";
  /** The RPC or command: `mint`, `org_create`, `resolve`, `verify`, … */
  readonly op: string;
  /** Who asked: `noiseActor(key)`, `cliActor(user)`, `"system"` or `"anonymous"`. */
  readonly actor: string;
  /** Required on `outcome` and `event`, absent on `intent`. */
  readonly outcome?: AuditOutcome;
  /** The error code when the outcome is not `ok`. */
  readonly code?: string;
  /** On an `outcome`: the seq its intent got from `appendDurable`. */
  readonly intent_seq?: number;
}

/** A line of the log as written and read back. */
export interface AuditLine extends AuditIds {
  readonly v: number;
  readonly seq: number;
  readonly ts: string;
  readonly node: string;
  readonly kind: AuditKind;
  readonly op: string;
  readonly actor: string;
  readonly outcome?: AuditOutcome;
  readonly code?: string;
  readonly intent_seq?: number;
  readonly reconciled?: boolean;
  /** checkpoint: the line before it, and the intents still open at that point. */
  readonly head_seq?: number;
  readonly head_hash?: string;
  readonly open_intents?: readonly number[];
  /** counter: the start of the counted window. */
  readonly window_start?: string;
  /** checkpoint: the file it is written in. */
  readonly file?: string;
  readonly prev: string;
  readonly hash: string;
}

type Check = (v: unknown, field: string) => void;

function refuse(field: string, why: string): never {
  throw new AuditError("invalid_request", `audit field ${field}: ${why}`);
}

/**
 * Values a check has accepted, so the next event with the same actor, org, app, names or nonces
 * skips the format and material scans (they are most of an event's cost). Only accepted values
 * are kept, each is an identity that is written to the log anyway, and a check is a pure function
 * of the value; the set is bounded (cleared when full), so it costs at most a few hundred KiB.
 */
class Accepted {
  private readonly seen = new Set<string>();
  has(v: string): boolean {
    return this.seen.has(v);
  }
  add(v: string): void {
    if (v.length > 512) return;
    if (this.seen.size >= 4096) this.seen.clear();
    this.seen.add(v);
  }
}

function text(re: RegExp, screen = true): Check {
  const accepted = new Accepted();
  return (v, field) => {
    if (typeof v !== "string") refuse(field, "must be a string");
    if (accepted.has(v)) return;
    if (!re.test(v)) refuse(field, "has a value outside its format");
    if (screen && looksLikeMaterial(v)) refuse(field, "looks like key or token material");
    accepted.add(v);
  };
}

const uint: Check = (v, field) => {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    refuse(field, "must be a non-negative integer");
};

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:@+/-]{0,127}$/;
const ACTOR = /^(?:noise:[A-Za-z0-9_-]{43}|cli:[A-Za-z0-9][A-Za-z0-9._-]{0,63}|system|anonymous)$/;
const HASH = /^[0-9a-f]{64}$/;
const ISO_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

const kidFormat = text(/^[A-Za-z0-9+/]{2,32}={0,2}$/, false);
const kid: Check = (v, field) => {
  kidFormat(v, field);
  const n = Buffer.from(v as string, "base64");
  if (n.length === 0 || n.length > 24 || n.toString("base64") !== v)
    refuse(field, "must be a key id of 1-24 bytes");
};

const acceptedNonces = new Accepted();
const nonce: Check = (v, field) => {
  if (typeof v === "string" && acceptedNonces.has(v)) return;
  if (!isNonceRef(v)) refuse(field, "must come from tokenRef or nonceRef");
  acceptedNonces.add(v);
};

const secretName = text(SECRET_NAME);
const names: Check = (v, field) => {
  if (!Array.isArray(v) || v.length === 0 || v.length > 1000) refuse(field, "must be 1 to 1000 names");
  for (const n of v) secretName(n, field);
};

const nonceList: Check = (v, field) => {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_NONCES)
    refuse(field, `must be 1 to ${MAX_NONCES} nonces`);
  for (const n of v) nonce(n, field);
};

const secondsList: Check = (v, field) => {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_NONCES)
    refuse(field, `must be 1 to ${MAX_NONCES} unix seconds`);
  for (const n of v) uint(n, field);
};

const intList: Check = (v, field) => {
  if (!Array.isArray(v) || v.length > 100_000) refuse(field, "must be a list of integers");
  for (const n of v) uint(n, field);
};

const oneOf =
  (values: readonly string[]): Check =>
  (v, field) => {
    if (typeof v !== "string" || !values.includes(v)) refuse(field, "has a value outside its set");
  };

/** The identity fields' checks: what a caller may set. */
const ID_CHECKS: Readonly<Record<keyof AuditIds, Check>> = {
  subject: text(ID),
  org: text(ID),
  app: text(ID),
  rid: text(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/),
  user: text(ID),
  kid,
  nonce,
  tail_sha256_prefix: text(/^[0-9a-f]{32}$/, false),
  parent_nonce: nonce,
  location: text(/^https?:\/\/[A-Za-z0-9.-]{1,253}(?::\d{1,5})?(?:\/[A-Za-z0-9._~/-]{0,200})?$/),
  names,
  version: uint,
  count: uint,
  cursor: uint,
  nonces: nonceList,
  required_until: secondsList,
};

const actorFormat = text(ACTOR, false);
const acceptedActors = new Accepted();

const CALLER_CHECKS: Readonly<Record<string, Check>> = {
  ...ID_CHECKS,
  kind: oneOf(["intent", "outcome", "event"]),
  op: text(/^[a-z][a-z0-9_.]{0,63}$/),
  // A Noise public key is an identity by design (noiseActor); a CLI user name is screened.
  actor: (v, field) => {
    if (typeof v === "string" && acceptedActors.has(v)) return;
    actorFormat(v, field);
    if ((v as string).startsWith("cli:") && looksLikeMaterial((v as string).slice(4)))
      refuse(field, "looks like key or token material");
    acceptedActors.add(v as string);
  },
  outcome: oneOf(AUDIT_OUTCOMES),
  code: text(/^[a-z][a-z0-9_]{0,63}$/),
  intent_seq: uint,
};

/** Envelope and log-written fields, checked when a line is read back (verify). */
const LINE_CHECKS: Readonly<Record<string, Check>> = {
  ...CALLER_CHECKS,
  kind: oneOf(AUDIT_KINDS),
  v: (v, f) => (v === AUDIT_FORMAT_VERSION ? undefined : refuse(f, "unknown format version")),
  seq: uint,
  ts: text(ISO_TS, false),
  node: text(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  reconciled: (v, f) => (v === true ? undefined : refuse(f, "must be true when present")),
  head_seq: uint,
  head_hash: text(HASH, false),
  open_intents: intList,
  window_start: text(ISO_TS, false),
  file: text(/^audit-\d{12}\.jsonl$/, false),
  prev: text(HASH, false),
  hash: text(HASH, false),
};

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function checkFields(x: Record<string, unknown>, checks: Readonly<Record<string, Check>>): void {
  for (const [k, v] of Object.entries(x)) {
    if (v === undefined) continue;
    const check = checks[k];
    if (check === undefined) refuse(k, "is not an audit field");
    check(v, k);
  }
}

/** Requires what each kind needs: outcomes name their intent, refusals carry a code. */
function checkShape(x: Record<string, unknown>): void {
  if (x.op === undefined) refuse("op", "is required");
  if (x.actor === undefined) refuse("actor", "is required");
  const kind = x.kind;
  if (kind === "intent" && (x.outcome !== undefined || x.code !== undefined || x.intent_seq !== undefined))
    refuse("outcome", "an intent has no outcome, code or intent_seq");
  if (kind === "outcome" && x.intent_seq === undefined) refuse("intent_seq", "an outcome names its intent");
  if ((kind === "outcome" || kind === "event") && x.outcome === undefined) refuse("outcome", "is required");
  if (kind === "event" && x.intent_seq !== undefined) refuse("intent_seq", "only an outcome has one");
  if (x.outcome !== undefined && x.outcome !== "ok" && x.code === undefined) refuse("code", "is required");
  if (x.outcome === "ok" && x.code !== undefined) refuse("code", "an ok outcome has no code");
  if (
    x.required_until !== undefined &&
    (x.required_until as unknown[]).length !== (x.nonces as unknown[] | undefined)?.length
  )
    refuse("required_until", "needs one entry per nonce");
}

/**
 * Parses what a caller wants logged: a plain object with only caller fields, each well typed and
 * free of material. Returns a copy without `undefined` properties.
 */
export function parseEventInput(x: unknown): AuditEventInput {
  if (!isPlainObject(x)) throw new AuditError("invalid_request", "an audit event must be a plain object");
  if (x.kind === undefined) refuse("kind", "is required");
  checkFields(x, CALLER_CHECKS);
  checkShape(x);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = Array.isArray(v) ? [...v] : v;
  return out as unknown as AuditEventInput;
}

/** Checks a line read back from disk or a shipped stream: every field known and well formed. */
export function checkLineFields(x: unknown): x is AuditLine {
  if (!isPlainObject(x)) throw new AuditError("invalid_request", "a line must be a JSON object");
  for (const f of ["v", "seq", "ts", "node", "kind", "prev", "hash"])
    if (x[f] === undefined) refuse(f, "is required");
  checkFields(x, LINE_CHECKS);
  if (x.kind === "intent" || x.kind === "outcome" || x.kind === "event") checkShape(x);
  return true;
}

/** `actor` for a caller authenticated by its Noise static public key (32 bytes). */
export function noiseActor(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32)
    throw new AuditError("invalid_request", "a Noise public key is 32 bytes");
  return `noise:${Buffer.from(publicKey).toString("base64url")}`;
}

/** `actor` for a local CLI command run by an operating-system user. */
export function cliActor(user: string): string {
  const actor = `cli:${user}`;
  CALLER_CHECKS.actor?.(actor, "actor");
  return actor;
}

const ID_FIELDS = [
  "subject",
  "org",
  "app",
  "rid",
  "user",
  "kid",
  "nonce",
  "tail_sha256_prefix",
  "parent_nonce",
  "location",
  "names",
  "version",
  "count",
  "cursor",
  "nonces",
  "required_until",
] as const satisfies readonly (keyof AuditIds)[];

/** The identity fields of a line, copied onto the outcome `reconcile` writes for it. */
export function idsOf(line: AuditLine): AuditIds {
  const out: Record<string, unknown> = {};
  for (const f of ID_FIELDS) if (line[f] !== undefined) out[f] = line[f];
  return out as AuditIds;
}
