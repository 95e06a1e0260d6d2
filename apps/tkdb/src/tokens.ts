/**
 * tkdb's token service, on top of @tkdb/macaroon and @tkdb/caveats: the org keys, parsing and
 * verification the RPCs share. Each RPC is in src/rpc/<op>.ts; the methods here with op names
 * delegate to them (the local CLI and tests call the service). Synchronous on purpose: every
 * mutating op runs inside one SQLite transaction with its idempotency and audit records.
 */
import { ActionRead, ActionWrite, flyRegistry } from "@tkdb/caveats";
import {
  type Caveat,
  caveatSetToJSON,
  findPermissionAndDischargeTokens,
  type ParsedMacaroon,
  parseAuthorizationHeader,
  ValidityWindow,
} from "@tkdb/macaroon";
import type { KekInfo, KeyId, Keyring } from "@tkdb/service";
import type Database from "better-sqlite3";
import {
  createKeyring,
  type IdempotencyKeys,
  kekCheckRole,
  kekCheckValue,
  type Primitives,
  sealingKid,
  sealRootKey,
  unsealRootKey,
} from "./crypto.js";
import type { ServiceConfig } from "./env.js";
import { badRequest, TkdbError } from "./errors.js";
import { RootKeyCache } from "./root-key-cache.js";
import { discharge } from "./rpc/discharge.js";
import { mint } from "./rpc/mint.js";
import { orgCreate } from "./rpc/org_create.js";
import { revocations } from "./rpc/revocations.js";
import { revoke } from "./rpc/revoke.js";
import { strip } from "./rpc/strip.js";
import { verify } from "./rpc/verify.js";
import type { AuditInput, AuditRecord, RootKeyRow, TokenRow } from "./store.js";
import { jsonSafe, nonceId, refusal } from "./token-args.js";

export { earliestExpiry, jsonSafe, nonceId } from "./token-args.js";

/**
 * Discharges start this many seconds in the past (clock skew between tkdb and petsem). The whole
 * window, skew included, is at most the configured TTL (≤ 300 s), so petsem's "no window longer
 * than 5 minutes" holds.
 */
export const DISCHARGE_SKEW_S = 5n;

/**
 * "Deploy" in Fly's access model: Fly has no deploy action; deploying an app means writing it
 * (creating and updating its machines and releases), and flyctl's deploy tokens grant the app
 * `rwcdC`. A discharge releases the app's secrets for a deploy, so tkdb requires the user bundle to
 * allow BOTH reading and writing the app: `FlyioAccess{action: "rw", org, app}`. A read-only token
 * ("r") is refused: reading alone never releases secrets.
 */
export const DEPLOY_ACTION = ActionRead | ActionWrite;

/**
 * What the token service needs from storage (DrizzleStore in store.ts implements it). Every method
 * throws TkdbError("storage") on an unexpected database failure; `transaction` runs its callback in
 * one BEGIN IMMEDIATE transaction and rolls everything back if it throws.
 */
export interface TkdbStore {
  transaction<T>(fn: () => T): T;
  getMeta(name: string): Uint8Array | undefined;
  setMeta(name: string, value: Uint8Array): void;
  rootKeyByOrg(org: string): RootKeyRow | undefined;
  rootKeyByKid(kid: Uint8Array): RootKeyRow | undefined;
  /** rootKeyByKid and anyRevoked(nonces) read together (a verify's reads); undefined: no live key. */
  rootKeyAndRevoked(
    kid: Uint8Array,
    nonces: readonly Uint8Array[],
  ): { row: RootKeyRow; revoked: boolean } | undefined;
  insertRootKey(row: RootKeyRow): void;
  /** True if any of these nonces (encoded bytes) is blacklisted. */
  anyRevoked(nonces: readonly Uint8Array[]): boolean;
  /**
   * Adds a nonce; false if it was already there. `requiredUntil` (unix seconds) is the expiry tkdb
   * recorded for it at mint time: after it the row may be pruned.
   */
  revoke(nonce: Uint8Array, requiredUntil: number | null): boolean;
  /** Deletes blacklist rows whose required_until is before `beforeS` (unix seconds). */
  pruneBlacklist(beforeS: number): number;
  insertToken(row: TokenRow): void;
  tokenByNonce(nonce: Uint8Array): TokenRow | undefined;
  /** Nonces of tokens made (by strip) from any of these nonces. */
  tokensDerivedFrom(parents: readonly Uint8Array[]): Uint8Array[];
  /** Nonces with rowid > cursor, oldest first. */
  revocationsSince(cursor: number, limit: number): { nonces: Uint8Array[]; cursor: number };
  /** The database handle @tkdb/audit's IdempotencyRecords works over (inside `transaction`). */
  readonly sqlite: Database.Database;
  /** Marks this node's audit intent `seq` committed (in the mutation's transaction; see audit.ts). */
  recordIntent(node: string, seq: number, hash: string, now: number): void;
  intentCommitted(node: string, seq: number, hash: string): boolean;
  /** Deletes audit_intents rows made before `before` (ms); primary only. */
  pruneIntents(before: number): number;
  /** The old in-database audit table (no longer written), for `tkdb audit export --legacy`. */
  auditRecords(): AuditRecord[];
  close(): void;
}

/** The `meta` row holding the KEK check value: which KEK the database is under. */
export const KEK_CHECK = "kek_check";

export type VerifyResult = { caveats: unknown; nonce: string; org: string };

export class TokenService {
  readonly registry = flyRegistry;
  readonly trusted: Map<string, Uint8Array[]>;
  /** Only the auth service: the one third party whose attestations name the user. */
  readonly authTrusted: Map<string, Uint8Array[]>;
  /** TKDB_KEK, TKDB_KEK_NEXT and TKDB_KEK_RETIRED (crypto.ts: what is sealed under them). */
  readonly ring: Keyring;
  /** Unsealed root keys for a short while (root-key-cache.ts); the row is still read every call. */
  readonly rootKeys = new RootKeyCache();
  private idemKeys: IdempotencyKeys | undefined;

  constructor(
    readonly store: TkdbStore,
    readonly config: ServiceConfig,
    readonly p: Primitives,
    readonly now: () => number = Date.now,
  ) {
    this.trusted = new Map([...config.thirdPartyKeys].map(([loc, k]) => [loc, [k]]));
    const authKey = config.thirdPartyKeys.get(config.authLocation);
    this.authTrusted = new Map(authKey === undefined ? [] : [[config.authLocation, [authKey]]]);
    this.ring = createKeyring(config);
  }

  /** The keyring and sealing KEK of the idempotency records. */
  get idempotencyKeys(): IdempotencyKeys {
    this.idemKeys ??= { ring: this.ring, sealingKid: () => this.sealingKid() };
    return this.idemKeys;
  }

  /**
   * The KEK new sealed fields go under: the one the check value names, read in the caller's
   * transaction, so once `tkdb kek rotate` commits, every process seals under the new KEK.
   */
  sealingKid(): KeyId {
    const check = this.store.getMeta(KEK_CHECK);
    if (check === undefined) throw new TkdbError("wrong_kek", "this database has no KEK check value yet");
    return sealingKid(this.ring, check);
  }

  /** Seals a new org root key (inside the org_create transaction). */
  sealRootKey(org: string, kid: Uint8Array, key: Uint8Array): Uint8Array {
    return sealRootKey(this.ring, this.sealingKid(), org, kid, key);
  }

  /**
   * First start stores a KEK check value; later starts refuse a database no configured KEK opens
   * before touching anything. Returns the KEK the database is under.
   */
  checkKek(opts: { replica?: boolean } = {}): KekInfo {
    const check = this.store.getMeta(KEK_CHECK);
    if (check === undefined && opts.replica) {
      // A replica cannot write the check value; without it the KEK cannot be checked yet.
      throw new TkdbError("not_primary", "the primary has not initialized this database yet; start it first");
    }
    if (check === undefined) {
      this.store.transaction(() => {
        if (this.store.getMeta(KEK_CHECK) === undefined)
          this.store.setMeta(KEK_CHECK, kekCheckValue(this.ring));
      });
      return { kid: this.ring.current, role: "current" };
    }
    return kekCheckRole(this.ring, check);
  }

  /** The org's root key (unsealed: the caller wipes it) and kid; unknown_org if none. */
  keyForOrg(org: string): { kid: Uint8Array; key: Uint8Array } {
    const row = this.store.rootKeyByOrg(org);
    if (row === undefined) throw new TkdbError("unknown_org", `no key for org ${org}`);
    const key = this.rootKeys.get(org, row.kid, row.sealedKey, () =>
      unsealRootKey(this.ring, org, row.kid, row.sealedKey),
    );
    return { kid: row.kid, key };
  }

  // ---- the RPCs (src/rpc/<op>.ts); mutating ones run inside store.transaction and return [result, audit] ----

  orgCreate(args: Record<string, unknown>): [{ org: string; kid: string; created: boolean }, AuditInput] {
    return orgCreate(this, args);
  }

  mint(args: Record<string, unknown>): [{ token: string; nonce: string }, AuditInput] {
    return mint(this, args);
  }

  revoke(
    args: Record<string, unknown>,
  ): [{ nonce: string; revoked: true; derived: string[]; requiredUntil: number | null }, AuditInput] {
    return revoke(this, args);
  }

  strip(args: Record<string, unknown>): [{ token: string; nonce: string }, AuditInput] {
    return strip(this, args);
  }

  discharge(args: Record<string, unknown>): [{ discharge: string }, AuditInput] {
    return discharge(this, args);
  }

  verify(args: Record<string, unknown>): VerifyResult {
    return verify(this, args);
  }

  revocations(args: Record<string, unknown>): { nonces: string[]; cursor: string } {
    return revocations(this, args);
  }

  /** Every ValidityWindow must hold now (verify leaves windows to the caller; strip and discharge do not). */
  checkWindows(cavs: readonly Caveat[]): void {
    const nowS = BigInt(Math.floor(this.now() / 1000));
    for (const c of cavs)
      if (c instanceof ValidityWindow && (nowS < c.notBefore || nowS > c.notAfter))
        throw new TkdbError("verification_failed", "ValidityWindow: token is not valid now");
  }

  /** Startup housekeeping on the primary: blacklist rows past their required_until (a day's grace). */
  pruneRevocations(nowMs: number): number {
    return this.store.pruneBlacklist(Math.floor(nowMs / 1000) - 24 * 3600);
  }

  // ---- shared by the RPCs ----

  /** A header's permission token (at tkdb's location) and its discharges; bad_token otherwise. */
  parse(header: string): { permission: ParsedMacaroon; discharges: ParsedMacaroon[] } {
    if (typeof header !== "string" || header.length > 64 * 1024) throw badRequest("header must be a string");
    let parsed: ReturnType<typeof parseAuthorizationHeader>;
    try {
      parsed = parseAuthorizationHeader(header, { registry: this.registry });
    } catch (err) {
      throw refusal(err, "header", "bad_token");
    }
    const { permissionTokens, dischargeTokens } = findPermissionAndDischargeTokens(
      parsed,
      this.config.location,
    );
    const permission = permissionTokens[0];
    if (permission === undefined)
      throw new TkdbError("bad_token", `no permission token located at ${this.config.location}`);
    return { permission, discharges: dischargeTokens };
  }

  /** Verifies a permission token with its discharges under `trusted` third parties; revoked if any nonce is. */
  verifyParsed(
    permission: ParsedMacaroon,
    discharges: ParsedMacaroon[],
    trusted: Map<string, Uint8Array[]> = this.trusted,
  ): VerifyResult & { cavs: Caveat[] } {
    const m = permission.macaroon;
    // The key row and the revocation of every nonce presented, read now in one statement; the
    // revocation verdict is applied after the signature check, as before (a forged token is
    // `verification_failed`, never `revoked`).
    const nonces = [m.nonce.encode(), ...discharges.map((d) => d.macaroon.nonce.encode())];
    const found = this.store.rootKeyAndRevoked(m.nonce.kid, nonces);
    if (found === undefined)
      throw new TkdbError("unknown_key", "permission token: unknown or retired key id");
    const { row } = found;
    const key = this.rootKeys.get(row.org, row.kid, row.sealedKey, () =>
      unsealRootKey(this.ring, row.org, row.kid, row.sealedKey),
    );
    let cavs: Caveat[];
    try {
      cavs = m.verify(key, {
        discharges: discharges.map((d) => d.macaroon),
        trusted3Ps: trusted,
        registry: this.registry,
      });
    } catch (err) {
      throw refusal(err, "permission token", "verification_failed");
    } finally {
      key.fill(0);
    }
    if (found.revoked) throw new TkdbError("revoked", "token revoked");
    return { caveats: jsonSafe(caveatSetToJSON(cavs, this.registry)), nonce: nonceId(m), org: row.org, cavs };
  }
}
