/**
 * tkdb's token operations, on top of @tkdb/macaroon and @tkdb/caveats. Synchronous on purpose:
 * every mutating op runs inside one SQLite transaction with its idempotency and audit records.
 */
import {
  ActionRead,
  ActionWrite,
  FlyioAccess,
  FlyioUserID,
  flyRegistry,
  SecretScope,
  ServiceTokenNonce,
  UserTokenNonce,
} from "@tkdb/caveats";
import {
  base64Decode,
  base64Encode,
  bytesEqual,
  CAV_3P,
  CAV_BIND_TO_PARENT,
  type Caveat,
  Caveat3P,
  caveatSetFromJSON,
  caveatSetToJSON,
  dischargeTicket,
  findPermissionAndDischargeTokens,
  Macaroon,
  MacaroonError,
  MsgpackReader,
  Nonce,
  type ParsedMacaroon,
  parseAuthorizationHeader,
  ValidityWindow,
  VerificationError,
  validateCaveats,
} from "@tkdb/macaroon";
import {
  checkKek,
  type IdempotencyKeys,
  idempotencyKeys,
  kekCheckValue,
  type Primitives,
  sealRootKey,
  unsealRootKey,
} from "./crypto.js";
import type { ServiceConfig } from "./env.js";
import { badRequest, TkdbError } from "./errors.js";
import type { AuditInput, TkdbStore } from "./store.js";

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

/** Expiries past year 9999 are "no expiry" for the records (SQLite DATETIME text). */
const MAX_RECORDED_EXPIRY = 253402300799n;

/** The earliest not_after among the ValidityWindows of a caveat set (unix seconds). */
export function earliestExpiry(cavs: readonly Caveat[]): bigint | undefined {
  let min: bigint | undefined;
  for (const c of cavs)
    if (c instanceof ValidityWindow && (min === undefined || c.notAfter < min)) min = c.notAfter;
  return min;
}

function recordedExpiry(cavs: readonly Caveat[]): number | null {
  const e = earliestExpiry(cavs);
  return e === undefined || e > MAX_RECORDED_EXPIRY ? null : Number(e < 0n ? 0n : e);
}

/** A location from a token, quoted and shortened for an error message. */
function quoteLocation(loc: string): string {
  return JSON.stringify(loc.length > 200 ? `${loc.slice(0, 200)}…` : loc);
}

/**
 * A Fly nonce: exactly one canonical msgpack `[kid, rnd]` or `[kid, rnd, proof]` (any key id,
 * known or retired, tokens' and discharges' alike). Anything else is bad_request.
 */
function parseNonceId(text: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = base64Decode(text, "nonce");
  } catch {
    throw badRequest("nonce must be a nonceId: the base64 of a Fly nonce");
  }
  if (bytes.length === 0 || bytes.length > 4096) throw badRequest("nonce has a bad length");
  try {
    const r = new MsgpackReader(bytes);
    const n = Nonce.read(r);
    if (r.remaining !== 0 || !bytesEqual(n.encode(), bytes) || n.rnd.length === 0)
      throw new Error("not canonical");
  } catch {
    throw badRequest("nonce must be a nonceId: the base64 of a Fly nonce");
  }
  return bytes;
}

const KEK_CHECK = "kek_check";

export type VerifyResult = { caveats: unknown; nonce: string; org: string };

/**
 * The Noise transport is plain JSON: integers beyond 2^53 (bigints from caveatSetToJSON) would
 * break JSON.stringify or lose precision, so they travel as exact decimal strings.
 */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === "bigint")
    return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === "object" && !(v instanceof Uint8Array))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

export function nonceId(m: Macaroon): string {
  return base64Encode(m.nonce.encode());
}

function str(args: Record<string, unknown>, name: string, max = 65536): string {
  const v = args[name];
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw badRequest(`${name} must be a string`);
  return v;
}

/** Org/app IDs: decimal strings (or safe-integer numbers), 1..2^63-1, returned as canonical strings. */
function orgId(args: Record<string, unknown>, name = "org"): string {
  let v = args[name];
  if (typeof v === "number" && Number.isSafeInteger(v) && v > 0) v = String(v);
  if (typeof v !== "string" || !/^[1-9]\d{0,18}$/.test(v) || BigInt(v) > 0x7fffffffffffffffn)
    throw badRequest(`${name} must be a positive decimal integer string`);
  return v;
}

function refusal(err: unknown, what: string, code: "verification_failed" | "bad_token"): TkdbError {
  if (err instanceof TkdbError) return err;
  if (err instanceof VerificationError) {
    const where = [
      err.caveatIndex === undefined ? "" : ` caveat ${err.caveatIndex}`,
      err.dischargeIndex === undefined ? "" : ` discharge ${err.dischargeIndex}`,
    ].join("");
    return new TkdbError(code, `${what}${where}: ${err.code}: ${err.message}`);
  }
  if (err instanceof MacaroonError) return new TkdbError(code, `${what}: ${err.code}: ${err.message}`);
  return new TkdbError(code, `${what}: malformed`);
}

export class TokenService {
  readonly registry = flyRegistry;
  private readonly trusted: Map<string, Uint8Array[]>;
  /** Only the auth service: the one third party whose attestations name the user. */
  private readonly authTrusted: Map<string, Uint8Array[]>;
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
  }

  /** KEK subkeys of the idempotency records. */
  get idempotencyKeys(): IdempotencyKeys {
    this.idemKeys ??= idempotencyKeys(this.p, this.config.kek);
    return this.idemKeys;
  }

  /** First start stores a KEK check value; later starts refuse a different KEK before touching anything. */
  checkKek(opts: { replica?: boolean } = {}): void {
    const check = this.store.getMeta(KEK_CHECK);
    if (check === undefined && opts.replica) {
      // A replica cannot write the check value; without it the KEK cannot be checked yet.
      throw new TkdbError("not_primary", "the primary has not initialized this database yet; start it first");
    }
    if (check === undefined) {
      this.store.transaction(() => this.store.setMeta(KEK_CHECK, kekCheckValue(this.p, this.config.kek)));
      return;
    }
    if (!checkKek(this.p, this.config.kek, check))
      throw new TkdbError("wrong_kek", "the KEK does not match the one this database was created with");
  }

  private keyForOrg(org: string): { kid: Uint8Array; key: Uint8Array } {
    const row = this.store.rootKeyByOrg(org);
    if (row === undefined) throw new TkdbError("unknown_org", `no key for org ${org}`);
    return { kid: row.kid, key: unsealRootKey(this.p, this.config.kek, org, row.kid, row.sealedKey) };
  }

  // ---- mutating ops: call inside store.transaction; they return [result, audit record] ----

  orgCreate(args: Record<string, unknown>): [{ org: string; kid: string; created: boolean }, AuditInput] {
    const org = orgId(args);
    const existing = this.store.rootKeyByOrg(org);
    if (existing !== undefined) {
      const r = { org, kid: base64Encode(existing.kid), created: false };
      return [r, { op: "org_create", actor: "", subject: org, details: { created: false } }];
    }
    const key = this.p.random(32);
    const kid = this.p.random(16);
    this.store.insertRootKey({
      org,
      kid,
      sealedKey: sealRootKey(this.p, this.config.kek, org, kid, key),
      created: this.now(),
    });
    key.fill(0);
    const r = { org, kid: base64Encode(kid), created: true };
    return [r, { op: "org_create", actor: "", subject: org, details: { created: true, kid: r.kid } }];
  }

  /**
   * Mints a permission token and records it (nonce, org, how many caveats are tkdb's own, the
   * expiry tkdb gave it): strip and revoke read that record, never a presented token.
   */
  mint(args: Record<string, unknown>): [{ token: string; nonce: string }, AuditInput] {
    const org = orgId(args);
    let caveats: Caveat[];
    try {
      caveats = caveatSetFromJSON(args.caveats ?? [], this.registry);
    } catch (err) {
      throw new TkdbError(
        "bad_caveats",
        `caveats: ${err instanceof MacaroonError ? err.message : "malformed"}`,
      );
    }
    if (caveats.some((c) => c.type === CAV_3P || c.isAttestation === true))
      throw new TkdbError("bad_caveats", "caveats: third-party caveats and attestations cannot be minted");
    const { kid, key } = this.keyForOrg(org);
    const m = Macaroon.mint({ key, kid, location: this.config.location, caveats, registry: this.registry });
    key.fill(0);
    const nonce = nonceId(m);
    this.store.insertToken({
      nonce: m.nonce.encode(),
      org,
      kind: "mint",
      parent: null,
      mintCaveats: m.unsafeCaveats.length,
      expires: recordedExpiry(m.unsafeCaveats),
      created: this.now(),
    });
    return [
      { token: m.toString(), nonce },
      {
        op: "mint",
        actor: "",
        subject: org,
        details: { nonce, caveats: jsonSafe(caveatSetToJSON(caveats, this.registry)) },
      },
    ];
  }

  /**
   * Revokes a nonce: every token of its lineage (every attenuation) dies. `nonce` must be a Fly
   * nonce (any key id, known or retired); `token` takes the nonce of a token or header's permission
   * token. required_until is the expiry tkdb recorded when it minted that nonce (else NULL), never
   * read from the presented token; the answer's `requiredUntil` (unix seconds or null) is that value.
   *
   * `derived` (default true) also revokes the service tokens strip made from this nonce, and theirs
   * in turn: a stolen user token may already have been turned into service tokens, and revoking the
   * login must not leave those alive. `derived: false` ends only this lineage (say, a login session
   * whose service tokens a team keeps on purpose) and must be asked for.
   */
  revoke(
    args: Record<string, unknown>,
  ): [{ nonce: string; revoked: true; derived: string[]; requiredUntil: number | null }, AuditInput] {
    if (args.nonce !== undefined && args.token !== undefined)
      throw badRequest("revoke takes nonce or token, not both");
    const cascade = args.derived ?? true;
    if (typeof cascade !== "boolean") throw badRequest("derived must be a boolean");
    let nonceBytes: Uint8Array;
    if (typeof args.nonce === "string") {
      nonceBytes = parseNonceId(args.nonce);
    } else if (typeof args.token === "string") {
      const perm = this.parse(args.token).permission;
      nonceBytes = perm.macaroon.nonce.encode();
    } else {
      throw badRequest("revoke needs nonce or token");
    }
    const expiryOf = (n: Uint8Array) => this.store.tokenByNonce(n)?.expires ?? null;
    const requiredUntil = expiryOf(nonceBytes);
    const added = this.store.revoke(nonceBytes, requiredUntil);
    const derived: string[] = [];
    if (cascade) {
      const seen = new Set<string>([base64Encode(nonceBytes)]);
      let frontier = [nonceBytes];
      while (frontier.length > 0 && seen.size <= 100_000) {
        const next: Uint8Array[] = [];
        for (const child of this.store.tokensDerivedFrom(frontier)) {
          const id = base64Encode(child);
          if (seen.has(id)) continue;
          seen.add(id);
          this.store.revoke(child, expiryOf(child));
          derived.push(id);
          next.push(child);
        }
        frontier = next;
      }
    }
    const nonce = base64Encode(nonceBytes);
    // Idempotent: a nonce already on the blacklist is just as revoked.
    return [
      { nonce, revoked: true, derived, requiredUntil },
      { op: "revoke", actor: "", subject: nonce, details: { added, derived, requiredUntil } },
    ];
  }

  /**
   * Permission token + its auth discharge → a service token: a new token under the same org key,
   * with no expiry of the login's and no authentication caveat, keeping every other restriction.
   *
   * - Only the 3P caveat at the auth location goes. A token with a 3P caveat at any other location
   *   (an approval service, say) is refused (`forbidden`, naming the location): dropping it would
   *   turn one short-lived approval into a permanent token that needs none.
   * - Kept: every verified caveat of the permission token except tkdb's own mint-time
   *   ValidityWindow (the first `mintCaveats` caveats, from tkdb's mint record; a token with no
   *   record, minted before the records existed, keeps all its windows), so a window the holder
   *   added stays; and every caveat of the auth discharge except its attestations and its
   *   ValidityWindow (the login session's freshness, which is what a service token replaces).
   * - The output is recorded with the user token's nonce as its parent, for `revoke`.
   * The input must be valid now (an expired login cannot be turned into a service token).
   */
  strip(args: Record<string, unknown>): [{ token: string; nonce: string }, AuditInput] {
    const { permission, discharges } = this.parse(str(args, "header"));
    const m = permission.macaroon;
    const thirdParties = m.unsafeCaveats.filter((c): c is Caveat3P => c instanceof Caveat3P);
    const foreign = [
      ...new Set(thirdParties.map((c) => c.location).filter((l) => l !== this.config.authLocation)),
    ];
    if (foreign.length > 0)
      throw new TkdbError(
        "forbidden",
        `strip removes only the authentication caveat (${quoteLocation(this.config.authLocation)}); this token also has a third-party caveat at ${foreign.map(quoteLocation).join(", ")}`,
      );
    if (thirdParties.length === 0)
      throw new TkdbError("bad_token", "token has no authentication caveat to strip");
    const verified = this.verifyParsed(permission, discharges, this.authTrusted);
    this.checkWindows(verified.cavs);
    const record = this.store.tokenByNonce(m.nonce.encode());
    const mintCaveats = record?.kind === "mint" ? record.mintCaveats : 0;
    const kept: Caveat[] = [];
    let permCount = 0;
    m.unsafeCaveats.forEach((c, i) => {
      if (c instanceof Caveat3P || c.type === CAV_BIND_TO_PARENT) return;
      permCount++;
      if (i < mintCaveats && c instanceof ValidityWindow) return;
      kept.push(c);
    });
    for (const c of verified.cavs.slice(permCount)) {
      if (c.isAttestation === true || c instanceof ValidityWindow || c.type === CAV_BIND_TO_PARENT) continue;
      kept.push(c);
    }
    const { kid, key } = this.keyForOrg(verified.org);
    const out = Macaroon.mint({
      key,
      kid,
      location: this.config.location,
      caveats: kept,
      registry: this.registry,
    });
    key.fill(0);
    this.store.insertToken({
      nonce: out.nonce.encode(),
      org: verified.org,
      kind: "strip",
      parent: m.nonce.encode(),
      mintCaveats: 0,
      expires: recordedExpiry(out.unsafeCaveats),
      created: this.now(),
    });
    const nonce = nonceId(out);
    return [
      { token: out.toString(), nonce },
      { op: "strip", actor: "", subject: verified.org, details: { from: verified.nonce, nonce } },
    ];
  }

  private checkWindows(cavs: readonly Caveat[]): void {
    const nowS = BigInt(Math.floor(this.now() / 1000));
    for (const c of cavs)
      if (c instanceof ValidityWindow && (nowS < c.notBefore || nowS > c.notAfter))
        throw new TkdbError("verification_failed", "ValidityWindow: token is not valid now");
  }

  /** Startup housekeeping on the primary: blacklist rows past their required_until (a day's grace). */
  pruneRevocations(nowMs: number): number {
    return this.store.pruneBlacklist(Math.floor(nowMs / 1000) - 24 * 3600);
  }

  // ---- read-only ops ----

  private parse(header: string): { permission: ParsedMacaroon; discharges: ParsedMacaroon[] } {
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

  private verifyParsed(
    permission: ParsedMacaroon,
    discharges: ParsedMacaroon[],
    trusted: Map<string, Uint8Array[]> = this.trusted,
  ): VerifyResult & { cavs: Caveat[] } {
    const m = permission.macaroon;
    const row = this.store.rootKeyByKid(m.nonce.kid);
    if (row === undefined) throw new TkdbError("unknown_key", "permission token: unknown or retired key id");
    const key = unsealRootKey(this.p, this.config.kek, row.org, row.kid, row.sealedKey);
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
    if (this.store.anyRevoked([m.nonce.encode(), ...discharges.map((d) => d.macaroon.nonce.encode())]))
      throw new TkdbError("revoked", "token revoked");
    return { caveats: jsonSafe(caveatSetToJSON(cavs, this.registry)), nonce: nonceId(m), org: row.org, cavs };
  }

  verify(args: Record<string, unknown>): VerifyResult {
    const { permission, discharges } = this.parse(str(args, "header"));
    const { cavs: _c, ...r } = this.verifyParsed(permission, discharges);
    return r;
  }

  revocations(args: Record<string, unknown>): { nonces: string[]; cursor: string } {
    const c = args.cursor ?? "0";
    if (typeof c !== "string" || !/^\d{1,15}$/.test(c)) throw badRequest("cursor must be a decimal string");
    const l = args.limit ?? 1000;
    if (typeof l !== "number" || !Number.isInteger(l) || l < 1 || l > 5000)
      throw badRequest("limit must be an integer in 1..5000");
    const page = this.store.revocationsSince(Number(c), l);
    return { nonces: page.nonces.map(base64Encode), cursor: String(page.cursor) };
  }

  /**
   * Discharges a ticket petsem placed (a reader token's 3P caveat at tkdb's location), for a
   * deploy: the caller presents the user's whole bundle (permission token + every discharge).
   *
   * - The bundle must verify in full: every 3P caveat discharged, nothing revoked, every window
   *   valid now; its org must be `org`, and it must allow deploying `app` (DEPLOY_ACTION, "rw").
   * - The discharge carries SecretScope(org, app), a ValidityWindow of at most the configured TTL
   *   (≤ 300 s, skew included) that never ends after the bundle's earliest expiry, and who asked:
   *   for a user's token (it has the auth caveat) `UserTokenNonce` and the `FlyioUserID` of the
   *   trusted auth discharge (only that discharge's attestation, never `IsUser`, which any holder
   *   can append); for a token with no user behind it (a stripped service token) its own nonce and
   *   org as `ServiceTokenNonce`.
   * Writes no idempotency record (a retry gets a fresh discharge); the audit record names the user.
   */
  discharge(args: Record<string, unknown>): [{ discharge: string }, AuditInput] {
    const org = orgId(args, "org");
    const app = orgId(args, "app");
    // petsem's reader tokens name tkdb's own location as their 3P location.
    const ka = this.config.thirdPartyKeys.get(this.config.location);
    if (ka === undefined) throw new TkdbError("forbidden", "no key shared with petsem is configured");
    let ticket: Uint8Array;
    try {
      ticket = base64Decode(str(args, "ticket", 8192));
    } catch (err) {
      throw err instanceof TkdbError ? err : badRequest("ticket must be base64");
    }
    let opened: ReturnType<typeof dischargeTicket>;
    try {
      opened = dischargeTicket(ka, this.config.location, ticket, { registry: this.registry });
    } catch (err) {
      throw refusal(err, "ticket", "verification_failed");
    }
    const { permission, discharges } = this.parse(str(args, "header"));
    const m = permission.macaroon;
    const user = this.verifyParsed(permission, discharges, this.authTrusted);
    this.checkWindows(user.cavs);
    if (user.org !== org) throw new TkdbError("forbidden", "user token belongs to another organization");
    const access = new FlyioAccess({
      action: DEPLOY_ACTION,
      orgId: BigInt(org),
      appId: BigInt(app),
      now: new Date(this.now()),
    });
    try {
      validateCaveats(user.cavs, access);
      if (opened.caveats.length > 0) validateCaveats(opened.caveats, access);
    } catch (err) {
      throw new TkdbError(
        "forbidden",
        `user token does not allow deploying org ${org} app ${app} (needs "rw"): ${(err as Error).message}`,
      );
    }
    const hasAuth = m.unsafeCaveats.some(
      (c) => c instanceof Caveat3P && c.location === this.config.authLocation,
    );
    const attest: Caveat[] = [];
    let userId: string | undefined;
    if (hasAuth) {
      // Only the trusted auth discharge's attestations survive verification with authTrusted.
      const ids = [
        ...new Set(user.cavs.filter((c) => c instanceof FlyioUserID).map((c) => (c as FlyioUserID).id)),
      ];
      if (ids.length > 1) throw new TkdbError("forbidden", "the bundle names more than one Fly.io user");
      attest.push(new UserTokenNonce(m.nonce.encode()));
      if (ids[0] !== undefined) {
        userId = ids[0].toString();
        attest.push(new FlyioUserID(ids[0]));
      }
    } else {
      attest.push(new ServiceTokenNonce(m.nonce.encode(), BigInt(org)));
    }
    const nowS = BigInt(Math.floor(this.now() / 1000));
    const notBefore = nowS - DISCHARGE_SKEW_S;
    let notAfter = notBefore + BigInt(this.config.dischargeTtl);
    const bundleExpiry = earliestExpiry([...user.cavs, ...opened.caveats]);
    if (bundleExpiry !== undefined && bundleExpiry < notAfter) notAfter = bundleExpiry;
    const d = opened.discharge;
    d.add(new ValidityWindow(notBefore, notAfter), new SecretScope(BigInt(org), BigInt(app)), ...attest);
    const token = d.toString();
    return [
      { discharge: token },
      {
        op: "discharge",
        actor: "",
        subject: `${org}/${app}`,
        details: {
          kind: hasAuth ? "user" : "service",
          user: user.nonce,
          ...(userId !== undefined ? { userId } : {}),
          nonce: nonceId(d),
          notAfter: Number(notAfter),
        },
      },
    ];
  }
}
