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
 * location, check its key id, verify the HMAC chain with petsem's root key and the presented
 * discharges, then validate every verified caveat (the token's and the discharges') against one
 * PetsemAccess per operation. Default deny: a token without any SecretOps caveat allows nothing.
 * `resolve` additionally requires a discharge of the tkdb caveat that itself carries a SecretScope
 * naming one app (app ≠ 0) and a ValidityWindow.
 */
import {
  type Access,
  type Caveat,
  type CaveatRegistry,
  findPermissionAndDischargeTokens,
  kidForKey,
  Macaroon,
  MacaroonError,
  parseAuthorizationHeader,
  ValidityWindow,
  validateCaveats,
} from "@tkdb/macaroon";
import { constantTimeEqual } from "./crypto.js";
import { PetsemError } from "./errors.js";
import type { Authorization, Authorizer, PetsemOp } from "./rpc.js";

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
  readonly location: string;
  readonly tkdbLocation: string;
  /** null: reader tokens cannot be minted and resolve is refused */
  readonly tkdbSharedKey: Uint8Array | null;
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

function safeJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString(10) : x)).slice(0, 200);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

export class PetsemAuthority implements Authorizer {
  private readonly rootKey: Uint8Array;
  private readonly kid: Uint8Array;
  private readonly now: () => number;
  private readonly trusted3Ps: ReadonlyMap<string, readonly Uint8Array[]>;

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

  private mint(caveats: Caveat[], o: MintOptions): Macaroon {
    const cavs = [...caveats];
    if (o.org !== undefined) cavs.push(this.opts.kit.secretScope(o.org, o.app ?? 0n));
    else if (o.app !== undefined) throw new PetsemError("invalid_request", "an app scope needs an org");
    if (o.ttlSeconds !== undefined) cavs.push(ValidityWindow.fromNow(o.ttlSeconds, new Date(this.now()), 60));
    return Macaroon.mint({
      key: this.rootKey,
      kid: this.kid,
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
    if (!constantTimeEqual(perm.nonce.kid, this.kid)) throw unauthorized();

    let verified: Caveat[];
    try {
      verified = perm.verify(this.rootKey, {
        discharges,
        registry: this.opts.kit.registry,
        trusted3Ps: this.trusted3Ps,
      });
    } catch (e) {
      if (e instanceof MacaroonError) throw unauthorized(e);
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
    if (ops.includes("resolve")) this.checkTkdbDischarge(perm, discharges);
    return { actor: [`token:${hex(perm.nonce.rnd)}`, ...this.attestations(verified)].join(";") };
  }

  /**
   * Attestations tkdb put on its discharge (e.g. the user id), trusted because tkdb's discharges
   * are keyed from tickets sealed with the shared key; recorded in the audit so that every read is
   * traceable to an end-user action. Bodies are ids, never secrets.
   */
  private attestations(verified: readonly Caveat[]): string[] {
    return verified
      .filter((c) => c.isAttestation === true)
      .map((c) => `${this.opts.kit.registry.nameOf(c.type)}=${safeJson(c.bodyJSON())}`);
  }

  /**
   * resolve needs the reader's tkdb caveat discharged by a discharge that is itself confined to one
   * app and time-limited (verification above already proved it authentic and validated its caveats).
   */
  private checkTkdbDischarge(perm: Macaroon, discharges: Macaroon[]): void {
    const tickets = perm.thirdPartyTickets().get(this.opts.tkdbLocation) ?? [];
    if (tickets.length === 0) throw forbidden("resolve requires a reader token");
    for (const ticket of tickets) {
      const mine = discharges.filter((d) => constantTimeEqual(d.nonce.kid, ticket));
      if (mine.length === 0) throw forbidden("resolve requires a tkdb discharge");
      for (const d of mine) {
        const cavs = d.unsafeCaveats;
        const scoped = cavs.some((c) => {
          const s = this.opts.kit.scopeOf(c);
          return s !== null && s.app !== 0n;
        });
        const windowed = cavs.some((c) => c instanceof ValidityWindow);
        if (!scoped || !windowed)
          throw forbidden("the tkdb discharge must be confined to an app and time-limited");
      }
    }
  }
}
