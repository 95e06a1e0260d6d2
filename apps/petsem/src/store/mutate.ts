/**
 * The write transaction every mutation runs (set, unset, rollback, deploy, and any later one that
 * goes through `SecretStore.mutate`), and the staging that lets the audited store (src/audit.ts)
 * put a durable audit intent between a call's validation and its effect.
 *
 * One immediate transaction: the idempotency lookup (@tkdb/audit `IdempotencyRecords`: a repeat
 * of (client key, rid) with the same op and arguments gets the stored result; other arguments are
 * `idempotency_mismatch`), the app's base version in the current epoch, the change, the
 * `audit_applied` row naming the intent, the idempotency record. All or nothing.
 */
import {
  DEFAULT_IDEMPOTENCY_TTL_MS,
  DEFAULT_MAX_PER_CLIENT,
  type IdempotencyCrypto,
  IdempotencyRecords,
  isAuditError,
  type Lookup,
} from "@tkdb/audit";
import type { Keyring } from "@tkdb/service";
import { PetsemError } from "../errors.js";
import type { CallContext, Epoched } from "../types.js";
import { type AppliedIntent, recordApplied } from "./applied.js";
import { type StoreCore, toPetsemError } from "./core.js";
import { noteAppEpoch } from "./epochs.js";
import { sealingKid } from "./kek.js";
import { getApp } from "./rows.js";

/**
 * How long an idempotency record lives: the clients' retry horizon with a wide margin. @tkdb/client
 * (packages/client/src/retry.ts) makes 3 attempts per endpoint with 5 s timeouts and backoff capped
 * at 2 s, about 20 s per endpoint and a minute over three regions; @tkdb/noise refuses a request
 * stamped more than 60 s from the server's clock. Ten minutes covers that ten times over (the
 * @tkdb/audit default), where petsem used to keep records for 24 hours.
 */
export const IDEMPOTENCY_TTL_MS = DEFAULT_IDEMPOTENCY_TTL_MS;
/** Live records per client key; a client over it is refused with `unavailable`, never evicted. */
export const IDEMPOTENCY_MAX_PER_CLIENT = DEFAULT_MAX_PER_CLIENT;

export interface IdempotencyLimits {
  readonly ttlMs?: number;
  readonly maxPerClient?: number;
}

/**
 * A validated call whose effect has not run. `run` performs it (a mutation's transaction, or
 * resolve's read and decrypt); `release` turns what `run` returned into the result (resolve: the
 * plaintexts decoded only then); `discard` wipes it when the outcome could not be audited.
 */
export interface StagedCall<R> {
  readonly op: string;
  readonly org: string;
  readonly app: string;
  /** secret names the call acts on (validated), for the audit */
  readonly names?: readonly string[];
  /** a version the call names (resolve's min_version, rollback's to_version) */
  readonly version?: number;
  /** true: a mutation (its intent is recorded as applied in its own transaction) */
  readonly mutation: boolean;
  run(intent: AppliedIntent | null): unknown;
  release(done: unknown): R;
  discard(done: unknown): void;
}

/** The outcome of `SecretStore.stage`: a staged call, or the result of a call that needs none. */
export type Staged<R> = { readonly staged: StagedCall<R> } | { readonly result: R };

/**
 * The idempotency records' crypto: petsem's keyed fingerprint (HMAC under the server key, which
 * is wrapped under the KEK, so fingerprints survive a KEK rotation) and the result sealed with the
 * shared keyring (store/kek.ts: the KEK's `idempotency-result` subkey, bound to the record's
 * client key, rid and op; `petsem kek rotate` rewraps it).
 */
function idempotencyCrypto(core: StoreCore, serverKey: Uint8Array, ring: Keyring): IdempotencyCrypto {
  const at = (aad: Uint8Array) => ({ table: "idempotency_records", column: "sealed_result", row: [aad] });
  return {
    fingerprint: (op, canonical) => core.crypto.fingerprint(serverKey, `${op}|${canonical}`),
    seal: (plain, aad) =>
      ring.seal("idempotency-result", plain, at(aad), { kid: sealingKid(ring, core.sqlite) }),
    open: (sealed, aad) => {
      try {
        return ring.open("idempotency-result", sealed, at(aad));
      } catch {
        return null;
      }
    },
  };
}

/** The idempotency records of a store, and the key to wipe at close. */
export function openIdempotency(
  core: StoreCore,
  serverKey: Uint8Array,
  limits: IdempotencyLimits,
  ring: Keyring,
): { records: IdempotencyRecords; key: Uint8Array } {
  // no key of its own any more (the keyring holds the KEK's subkeys); `key` stays for the caller
  const key = new Uint8Array(0);
  const records = new IdempotencyRecords(core.sqlite, {
    crypto: idempotencyCrypto(core, serverKey, ring),
    ttlMs: limits.ttlMs ?? IDEMPOTENCY_TTL_MS,
    maxPerClient: limits.maxPerClient ?? IDEMPOTENCY_MAX_PER_CLIENT,
    clock: core.now,
  });
  return { records, key };
}

/** @tkdb/audit's errors as petsem's (same codes; `conflict` cannot happen inside the transaction). */
function fromAuditError(e: unknown): unknown {
  if (!isAuditError(e)) return e;
  const code = e.code === "conflict" ? "internal" : e.code;
  return new PetsemError(code, e.code === "conflict" ? "internal error" : e.message, { cause: e });
}

/** The keys @tkdb/audit accepts for a (client key, rid): fixed prefixes, so any base64url fits. */
function idemKeys(idem: NonNullable<CallContext["idempotency"]>): [string, string] {
  return [`c:${idem.clientKey}`, `r:${idem.rid}`];
}

export interface Mutation<R> {
  readonly op: string;
  readonly org: string;
  readonly app: string;
  readonly ctx: CallContext;
  /** what the idempotency fingerprint covers: names and shapes, never values */
  readonly fingerprintOf: unknown;
  readonly apply: () => R;
}

/** Runs one mutation's write transaction (see the file comment). */
export function commitMutation<R extends { app_version: number }>(
  core: StoreCore,
  idempotency: IdempotencyRecords,
  m: Mutation<R>,
  intent: AppliedIntent | null,
): R & Epoched {
  const idem = m.ctx.idempotency;
  try {
    return core.sqlite
      .transaction((): R & Epoched => {
        let miss: Extract<Lookup<R & Epoched>, { hit: false }> | undefined;
        if (idem) {
          const [client, rid] = idemKeys(idem);
          const found = idempotency.lookup<R & Epoched>(client, rid, m.op, m.fingerprintOf);
          if (found.hit) {
            if (intent) recordApplied(core, intent, m.op);
            return found.result;
          }
          miss = found;
        }
        const epoch = noteAppEpoch(core, m.org, m.app, getApp(core, m.org, m.app)?.appVersion ?? 0);
        const result = { ...m.apply(), epoch };
        if (intent) recordApplied(core, intent, m.op);
        if (idem && miss) {
          const [client, rid] = idemKeys(idem);
          idempotency.store(client, rid, m.op, miss, result);
          idempotency.prune(100);
        }
        core.hooks.beforeCommit?.();
        return result;
      })
      .immediate();
  } catch (e) {
    throw toPetsemError(fromAuditError(e));
  }
}

/** A mutation captured by `SecretStore.stage`: `auditIds` names its secrets and target version. */
export function stagedMutation<R>(
  m: Pick<Mutation<R>, "op" | "org" | "app">,
  auditIds: Readonly<Record<string, unknown>>,
  run: (intent: AppliedIntent | null) => unknown,
): StagedCall<unknown> {
  const names = Array.isArray(auditIds.names) ? (auditIds.names as string[]) : undefined;
  const version = typeof auditIds.to_version === "number" ? auditIds.to_version : undefined;
  return {
    op: m.op,
    org: m.org,
    app: m.app,
    mutation: true,
    ...(names === undefined ? {} : { names }),
    ...(version === undefined ? {} : { version }),
    run,
    release: (done) => done,
    discard: () => undefined,
  };
}
