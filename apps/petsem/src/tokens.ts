/**
 * petsem as its own Macaroon authority (DESIGN.md "petsem"; secrets-model.md §5.1).
 *
 * Token kinds (Fly macaroon format via @tkdb/macaroon, location https://api.fly.io/secrets/v1):
 * - writer (the API server's): SecretOps{set|unset|list|rollback}, optionally SecretScope{org, app}.
 *   It can never obtain a value: no op but `resolve` returns one, and `resolve` needs the resolve bit.
 * - reader (each flyd's): SecretOps{resolve} + a third-party caveat located at tkdb whose ticket is
 *   sealed with the key petsem shares with tkdb. tkdb discharges it only for a user allowed on the
 *   org/app, confining the discharge with SecretScope{org, app} and a ValidityWindow.
 *
 * Authorization of a request: parse the FlyV1 header, pick the permission token at petsem's
 * location, check its key id, refuse it if its nonce is on petsem's blacklist (`petsem token
 * revoke`: the whole lineage of that token), verify the HMAC chain with petsem's root key and the
 * presented discharges, then validate every verified caveat (the token's and the discharges')
 * against one PetsemAccess per operation. Default deny: a token without any SecretOps caveat allows
 * nothing.
 *
 * `resolve` additionally requires (security issue 12, items 7 and 8):
 * - exactly one tkdb caveat on the token and exactly one discharge for it, confined by a
 *   SecretScope naming one app (app ≠ 0) and time-limited: every ValidityWindow on it spans at
 *   most 5 minutes, whatever tkdb's TTL is configured to;
 * - on that discharge, tkdb's statement of whose token released the read: exactly one
 *   `UserTokenNonce` (with exactly one `FlyioUserID`: the user) or one `ServiceTokenNonce` (a
 *   stripped service token, for this org). Attestations count only on a discharge whose ticket
 *   opens with the key petsem shares with tkdb (the macaroon library drops every other
 *   discharge's attestations and refuses them in the permission token); `IsUser` is not an
 *   attestation and is never taken as the user;
 * - that tkdb has not revoked that token: the revocation feed (tkdb-feed.ts) is asked, and a feed
 *   that has been silent too long refuses with `unavailable` (fail closed).
 * The user, the token nonce and the discharge's nonce go into the resolve's audit records, so a
 * read joins tkdb's audit of the discharge (its `details.nonce`).
 */
import { FlyioUserID, ServiceTokenNonce, UserTokenNonce } from "@tkdb/caveats";
import {
  type Access,
  base64Decode,
  base64Encode,
  type Caveat,
  type CaveatRegistry,
  findPermissionAndDischargeTokens,
  kidForKey,
  Macaroon,
  MacaroonError,
  MsgpackReader,
  Nonce,
  parseAuthorizationHeader,
  ValidityWindow,
  validateCaveats,
} from "@tkdb/macaroon";
import type { RevokedTokens } from "./blacklist.js";
import { constantTimeEqual } from "./crypto.js";
import { PetsemError } from "./errors.js";
import type { Authorization, Authorizer, PetsemOp } from "./rpc/index.js";
import type { UserRevocations } from "./tkdb-feed.js";

/**
 * The longest window a tkdb discharge petsem accepts may span (DESIGN.md "tkdb": valid at most 5
 * minutes). tkdb's window includes its backdating for clock skew (notAfter = notBefore + TTL), so
 * the span itself is capped, which needs no agreement between the two clocks.
 */
export const MAX_DISCHARGE_VALIDITY_S = 300n;

/** SecretOps bits (caveat 0x10000). */
export const OP_BITS: Readonly<Record<PetsemOp, number>> = {
  set: 1,
  unset: 2,
  list: 4,
  rollback: 8,
  resolve: 16,
};
export const WRITER_OPS = OP_BITS.set | OP_BITS.unset | OP_BITS.list | OP_BITS.rollback;
export const READER_OPS = OP_BITS.resolve;

/** The petsem caveats petsem needs from @tkdb/caveats, bound in `caveat-kit.ts`. */
export interface PetsemCaveatKit {
  readonly registry: CaveatRegistry;
  secretOps(mask: number): Caveat;
  secretScope(org: bigint, app: bigint): Caveat;
  /** the op mask if `c` is a SecretOps caveat */
  opsOf(c: Caveat): number | null;
  /** org/app if `c` is a SecretScope caveat */
  scopeOf(c: Caveat): { org: bigint; app: bigint } | null;
  access(op: PetsemOp, org: bigint, app: bigint, now: Date): Access;
}

export interface PetsemAuthorityOptions {
  readonly rootKey: Uint8Array;
  /**
   * The signing keys as they are now (store/token-keys.ts; asked on every call, so `petsem token
   * key rotate|retire` take effect without a restart): the newest signs, the others still verify.
   * Absent: `rootKey` alone.
   */
  readonly signingKeys?: () => { signing: Uint8Array; verifying: readonly Uint8Array[] };
  readonly location: string;
  readonly tkdbLocation: string;
  /** null: reader tokens cannot be minted and resolve is refused */
  readonly tkdbSharedKey: Uint8Array | null;
  /** petsem's own blacklist (blacklist.ts), asked on every call */
  readonly revokedTokens: RevokedTokens;
  /** tkdb's revocation feed (tkdb-feed.ts); null: resolve is refused with `unavailable` */
  readonly userRevocations: UserRevocations | null;
  readonly kit: PetsemCaveatKit;
  readonly now?: () => number;
}

export interface MintOptions {
  readonly org?: bigint;
  readonly app?: bigint;
  /** validity in seconds from now; omitted = no ValidityWindow on the token itself */
  readonly ttlSeconds?: number;
}

function unauthorized(cause?: unknown): PetsemError {
  return new PetsemError(
    "unauthorized",
    "no valid petsem token",
    cause === undefined ? undefined : { cause },
  );
}

function forbidden(message: string, cause?: unknown): PetsemError {
  return new PetsemError("forbidden", message, cause === undefined ? undefined : { cause });
}

function unavailable(message: string): PetsemError {
  return new PetsemError("unavailable", message);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

export class PetsemAuthority implements Authorizer {
  private readonly rootKey: Uint8Array;
  private readonly kid: Uint8Array;
  private readonly now: () => number;
  private readonly trusted3Ps: ReadonlyMap<string, readonly Uint8Array[]>;
  /** key ids of the keys `signingKeys` hands out (cached per key object) */
  private readonly kids = new WeakMap<Uint8Array, Uint8Array>();

  constructor(private readonly opts: PetsemAuthorityOptions) {
    if (!(opts.rootKey instanceof Uint8Array) || opts.rootKey.length !== 32) {
      throw new PetsemError("config", "macaroon root key must be 32 bytes");
    }
    this.rootKey = new Uint8Array(opts.rootKey);
    this.kid = kidForKey(this.rootKey);
    this.now = opts.now ?? Date.now;
    this.trusted3Ps = new Map(
      opts.tkdbSharedKey ? [[opts.tkdbLocation, [new Uint8Array(opts.tkdbSharedKey)]]] : [],
    );
  }

  /** The signing key first, then the keys that still verify, each with its key id. */
  private keySet(): { key: Uint8Array; kid: Uint8Array }[] {
    if (this.opts.signingKeys === undefined) return [{ key: this.rootKey, kid: this.kid }];
    const { signing, verifying } = this.opts.signingKeys();
    return [signing, ...verifying].map((key) => {
      let kid = this.kids.get(key);
      if (kid === undefined) {
        kid = kidForKey(key);
        this.kids.set(key, kid);
      }
      return { key, kid };
    });
  }

  /** The key whose id the token's nonce names, if it still verifies here. */
  private keyFor(kid: Uint8Array): Uint8Array | undefined {
    return this.keySet().find((k) => constantTimeEqual(k.kid, kid))?.key;
  }

  private mint(caveats: Caveat[], o: MintOptions): Macaroon {
    const signer = this.keySet()[0] as { key: Uint8Array; kid: Uint8Array };
    const cavs = [...caveats];
    if (o.org !== undefined) cavs.push(this.opts.kit.secretScope(o.org, o.app ?? 0n));
    else if (o.app !== undefined) throw new PetsemError("invalid_request", "an app scope needs an org");
    if (o.ttlSeconds !== undefined) cavs.push(ValidityWindow.fromNow(o.ttlSeconds, new Date(this.now()), 60));
    return Macaroon.mint({
      key: signer.key,
      kid: signer.kid,
      location: this.opts.location,
      caveats: cavs,
      registry: this.opts.kit.registry,
    });
  }

  /** The API server's token: write, unset, list, rollback; never read. */
  mintWriter(o: MintOptions = {}): string {
    return this.mint([this.opts.kit.secretOps(WRITER_OPS)], o).toString();
  }

  /** flyd's token: resolve only, and only with a tkdb discharge. */
  mintReader(o: MintOptions = {}): string {
    const key = this.opts.tkdbSharedKey;
    if (key === null)
      throw new PetsemError("config", "PETSEM_TKDB_SHARED_KEY is required to mint reader tokens");
    const m = this.mint([this.opts.kit.secretOps(READER_OPS)], o);
    m.add3P(key, this.opts.tkdbLocation);
    return m.toString();
  }

  authorize(header: string, ops: readonly PetsemOp[], org: bigint, app: bigint): Authorization {
    if (typeof header !== "string" || header.length === 0) throw unauthorized();
    let perm: Macaroon;
    let discharges: Macaroon[];
    try {
      const parsed = parseAuthorizationHeader(header, { registry: this.opts.kit.registry });
      const found = findPermissionAndDischargeTokens(parsed, this.opts.location);
      if (found.permissionTokens.length !== 1) throw unauthorized();
      perm = (found.permissionTokens[0] as { macaroon: Macaroon }).macaroon;
      discharges = found.dischargeTokens.map((d) => d.macaroon);
    } catch (e) {
      throw e instanceof PetsemError ? e : unauthorized(e);
    }
    const rootKey = this.keyFor(perm.nonce.kid);
    if (rootKey === undefined) throw unauthorized();
    // Before any other work: a revoked token (any attenuation of it shares its nonce) is dead.
    if (this.opts.revokedTokens.isRevoked(perm.nonce.encode())) {
      throw new PetsemError("unauthorized", "petsem token revoked");
    }

    let verified: Caveat[];
    try {
      verified = perm.verify(rootKey, {
        discharges,
        registry: this.opts.kit.registry,
        trusted3Ps: this.trusted3Ps,
      });
    } catch (e) {
      if (e instanceof MacaroonError) throw this.missingDischarge(ops, perm, discharges) ?? unauthorized(e);
      throw e;
    }
    const kit = this.opts.kit;
    if (!verified.some((c) => kit.opsOf(c) !== null)) throw forbidden("token grants no secret operations");
    const now = new Date(this.now());
    try {
      validateCaveats(verified, ...ops.map((op) => kit.access(op, org, app, now)));
    } catch (e) {
      if (e instanceof MacaroonError) throw forbidden("token does not allow this operation", e);
      throw e;
    }
    const actor = `token:${hex(perm.nonce.rnd)}`;
    const token = { nonce: base64Encode(perm.nonce.encode()), tail: perm.unsafeTail() };
    if (!ops.includes("resolve")) return { actor, token };
    const discharge = this.tkdbDischarge(perm, discharges);
    const who = this.principal(verified, org);
    this.checkNotRevokedAtTkdb(who.tokenNonceId);
    return { actor, token, principal: { ...who.audit, discharge: base64Encode(discharge.nonce.encode()) } };
  }

  /**
   * A resolve whose token failed verification because its tkdb caveat came without a discharge (a
   * reader token sent alone, the usual mistake at boot) is refused saying so, not as "no valid token".
   */
  private missingDischarge(
    ops: readonly PetsemOp[],
    perm: Macaroon,
    discharges: Macaroon[],
  ): PetsemError | undefined {
    if (!ops.includes("resolve")) return undefined;
    const tickets = perm.thirdPartyTickets().get(this.opts.tkdbLocation) ?? [];
    const discharged = (t: Uint8Array) => discharges.some((d) => constantTimeEqual(d.nonce.kid, t));
    if (tickets.length === 0 || tickets.every(discharged)) return undefined;
    return new PetsemError(
      "unauthorized",
      "a tkdb discharge is missing: resolve takes the reader token with tkdb's discharge of its third-party caveat",
    );
  }

  /**
   * resolve needs the reader's one tkdb caveat discharged by exactly one discharge (two would leave
   * it open which one's statements count) that is confined to one app and time-limited to at most
   * 5 minutes. Verification above already proved it authentic and validated its caveats.
   */
  private tkdbDischarge(perm: Macaroon, discharges: Macaroon[]): Macaroon {
    const tickets = perm.thirdPartyTickets().get(this.opts.tkdbLocation) ?? [];
    if (tickets.length === 0) throw forbidden("resolve requires a reader token");
    if (tickets.length !== 1) throw forbidden("resolve requires exactly one tkdb caveat");
    const ticket = tickets[0] as Uint8Array;
    const mine = discharges.filter((d) => constantTimeEqual(d.nonce.kid, ticket));
    if (mine.length === 0) throw forbidden("resolve requires a tkdb discharge");
    if (mine.length !== 1) throw forbidden("resolve takes exactly one tkdb discharge");
    const d = mine[0] as Macaroon;
    const cavs = d.unsafeCaveats;
    const scoped = cavs.some((c) => {
      const s = this.opts.kit.scopeOf(c);
      return s !== null && s.app !== 0n;
    });
    const windows = cavs.filter((c): c is ValidityWindow => c instanceof ValidityWindow);
    if (!scoped || windows.length === 0)
      throw forbidden("the tkdb discharge must be confined to an app and time-limited");
    // Every window, not their intersection: a narrower one added later cannot launder a long one.
    for (const w of windows) {
      if (w.notAfter - w.notBefore > MAX_DISCHARGE_VALIDITY_S) {
        throw forbidden("the tkdb discharge is valid for longer than 5 minutes");
      }
    }
    return d;
  }

  /**
   * Whose token released this read, from the attestations of the verified set. Only a discharge of
   * a trusted third party (tkdb: a ticket sealed with the shared key) contributes attestations to
   * it, so nothing the holder added can appear here.
   */
  private principal(
    verified: readonly Caveat[],
    org: bigint,
  ): { tokenNonceId: string; audit: Record<string, string> } {
    const users = verified.filter((c): c is UserTokenNonce => c instanceof UserTokenNonce);
    const services = verified.filter((c): c is ServiceTokenNonce => c instanceof ServiceTokenNonce);
    const ids = verified.filter((c): c is FlyioUserID => c instanceof FlyioUserID);
    if (users.length + services.length !== 1) {
      throw forbidden("the tkdb discharge must name exactly one user or service token");
    }
    const user = users[0];
    if (user !== undefined) {
      const id = ids[0];
      if (id === undefined || ids.length !== 1) {
        throw forbidden("the tkdb discharge must name exactly one user");
      }
      return {
        tokenNonceId: user.nonceId,
        audit: { user: id.id.toString(10), user_token: user.nonceId },
      };
    }
    const service = services[0] as ServiceTokenNonce;
    if (service.org !== org || ids.length !== 0) {
      throw forbidden("the tkdb discharge names a service token of another organization");
    }
    return {
      tokenNonceId: service.nonceId,
      audit: { service_token: service.nonceId, service_org: service.org.toString(10) },
    };
  }

  /** The token behind the discharge must not have been revoked at tkdb since it was issued. */
  private checkNotRevokedAtTkdb(nonceId: string): void {
    const feed = this.opts.userRevocations;
    if (feed === null) throw unavailable("tkdb's revocation feed is not configured");
    const status = feed.status(nonceId);
    if (status === "revoked") throw new PetsemError("unauthorized", "the user's token was revoked at tkdb");
    if (status === "stale") throw unavailable("tkdb's revocation feed is unreachable");
  }

  /**
   * The msgpack nonce of a petsem token to revoke, given as a token / FlyV1 header (its permission
   * token at petsem's location) or as a nonceId (padded base64 of the nonce, as tkdb writes it, or
   * base64url). Refuses anything that is not a token nonce under petsem's own key id.
   */
  nonceToRevoke(target: { token: string } | { nonce: string }): Uint8Array {
    let nonce: Nonce;
    if ("token" in target) {
      let found: ReturnType<typeof findPermissionAndDischargeTokens>;
      try {
        const header = /^(FlyV1|Bearer) /i.test(target.token) ? target.token : `FlyV1 ${target.token}`;
        const parsed = parseAuthorizationHeader(header, { registry: this.opts.kit.registry });
        found = findPermissionAndDischargeTokens(parsed, this.opts.location);
      } catch (e) {
        throw new PetsemError("invalid_request", "--token is not a petsem token", { cause: e });
      }
      if (found.permissionTokens.length !== 1) {
        throw new PetsemError("invalid_request", "--token must hold exactly one petsem token");
      }
      nonce = (found.permissionTokens[0] as { macaroon: Macaroon }).macaroon.nonce;
    } else {
      const text = target.nonce.trim();
      let bytes: Uint8Array;
      if (/^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0) bytes = base64Decode(text);
      else if (/^[A-Za-z0-9_-]+$/.test(text)) bytes = new Uint8Array(Buffer.from(text, "base64url"));
      else throw new PetsemError("invalid_request", "--nonce must be base64 of an encoded nonce");
      try {
        const r = new MsgpackReader(bytes);
        nonce = Nonce.read(r);
        if (r.remaining !== 0) throw new PetsemError("invalid_request", "trailing bytes after the nonce");
      } catch (e) {
        throw new PetsemError("invalid_request", "--nonce is not an encoded token nonce", { cause: e });
      }
    }
    if (nonce.proof || this.keyFor(nonce.kid) === undefined) {
      throw new PetsemError("invalid_request", "not a token of this petsem (key id differs)");
    }
    return nonce.encode();
  }
}
