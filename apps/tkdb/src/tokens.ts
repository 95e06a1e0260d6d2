/**
 * tkdb's token operations, on top of @tkdb/macaroon and @tkdb/caveats. Synchronous on purpose:
 * every mutating op runs inside one SQLite transaction with its replay and audit records.
 */
import { ActionRead, FlyioAccess, flyRegistry, SecretScope } from "@tkdb/caveats";
import {
  base64Decode,
  base64Encode,
  CAV_3P,
  CAV_BIND_TO_PARENT,
  CAV_VALIDITY_WINDOW,
  type Caveat,
  Caveat3P,
  caveatSetFromJSON,
  caveatSetToJSON,
  dischargeTicket,
  findPermissionAndDischargeTokens,
  Macaroon,
  MacaroonError,
  type ParsedMacaroon,
  parseAuthorizationHeader,
  ValidityWindow,
  VerificationError,
  validateCaveats,
} from "@tkdb/macaroon";
import { checkKek, kekCheckValue, type Primitives, sealRootKey, unsealRootKey } from "./crypto.js";
import type { ServiceConfig } from "./env.js";
import { badRequest, TkdbError } from "./errors.js";
import type { AuditInput, TkdbStore } from "./store.js";

/** Discharges start this many seconds in the past (clock skew). */
export const DISCHARGE_SKEW_S = 30n;
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

  constructor(
    readonly store: TkdbStore,
    readonly config: ServiceConfig,
    readonly p: Primitives,
    readonly now: () => number = Date.now,
  ) {
    this.trusted = new Map([...config.thirdPartyKeys].map(([loc, k]) => [loc, [k]]));
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

  revoke(args: Record<string, unknown>): [{ nonce: string; revoked: true }, AuditInput] {
    let nonceBytes: Uint8Array;
    if (typeof args.nonce === "string") {
      try {
        nonceBytes = base64Decode(args.nonce);
      } catch {
        throw badRequest("nonce must be base64");
      }
      if (nonceBytes.length === 0 || nonceBytes.length > 256) throw badRequest("nonce has a bad length");
    } else if (typeof args.token === "string") {
      const perm = this.parse(args.token).permission;
      nonceBytes = perm.macaroon.nonce.encode();
    } else {
      throw badRequest("revoke needs nonce or token");
    }
    const added = this.store.revoke(nonceBytes);
    const nonce = base64Encode(nonceBytes);
    // Idempotent: a nonce already on the blacklist is just as revoked.
    return [
      { nonce, revoked: true },
      { op: "revoke", actor: "", subject: nonce, details: { added } },
    ];
  }

  /**
   * Permission token + its auth discharge → a service token: a new token under the same org key
   * whose caveats are the verified set minus ValidityWindow, 3P/bind caveats and attestations.
   * The input must be valid now (an expired login cannot be turned into a service token).
   */
  strip(args: Record<string, unknown>): [{ token: string; nonce: string }, AuditInput] {
    const { permission, discharges } = this.parse(str(args, "header"));
    const m = permission.macaroon;
    if (!m.unsafeCaveats.some((c) => c instanceof Caveat3P && c.location === this.config.authLocation))
      throw new TkdbError("bad_token", "token has no authentication caveat to strip");
    const verified = this.verifyParsed(permission, discharges);
    this.checkWindows(verified.cavs);
    const kept = verified.cavs.filter(
      (c) =>
        c.type !== CAV_VALIDITY_WINDOW &&
        c.type !== CAV_3P &&
        c.type !== CAV_BIND_TO_PARENT &&
        c.isAttestation !== true,
    );
    const { kid, key } = this.keyForOrg(verified.org);
    const out = Macaroon.mint({
      key,
      kid,
      location: this.config.location,
      caveats: kept,
      registry: this.registry,
    });
    key.fill(0);
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
  ): VerifyResult & { cavs: Caveat[] } {
    const m = permission.macaroon;
    const row = this.store.rootKeyByKid(m.nonce.kid);
    if (row === undefined) throw new TkdbError("unknown_key", "permission token: unknown or retired key id");
    const key = unsealRootKey(this.p, this.config.kek, row.org, row.kid, row.sealedKey);
    let cavs: Caveat[];
    try {
      cavs = m.verify(key, {
        discharges: discharges.map((d) => d.macaroon),
        trusted3Ps: this.trusted,
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
   * Discharges a ticket petsem placed: proves with the caller's own user token that the user may
   * read org/app, then issues a short discharge confined to SecretScope(org, app).
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
    const user = this.verifyParsed(permission, discharges);
    if (user.org !== org) throw new TkdbError("forbidden", "user token belongs to another organization");
    const access = new FlyioAccess({
      action: ActionRead,
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
        `user token does not allow reading org ${org} app ${app}: ${(err as Error).message}`,
      );
    }
    const nowS = BigInt(Math.floor(this.now() / 1000));
    const d = opened.discharge;
    d.add(
      new ValidityWindow(nowS - DISCHARGE_SKEW_S, nowS + BigInt(this.config.dischargeTtl)),
      new SecretScope(BigInt(org), BigInt(app)),
    );
    const token = d.toString();
    return [
      { discharge: token },
      {
        op: "discharge",
        actor: "",
        subject: `${org}/${app}`,
        details: { user: user.nonce, nonce: nonceId(d) },
      },
    ];
  }
}
