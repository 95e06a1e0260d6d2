/**
 * Typed calls for tkdb's two APIs. The verification API (Noise IK) is open to anyone; the signing
 * API (Noise KK) only to clients whose static key tkdb lists. `TkdbClient` implements the
 * `Authority` a CachingVerifier needs.
 */
import {
  base64Encode,
  type Caveat,
  type CaveatRegistry,
  caveatSetFromJSON,
  coreRegistry,
} from "@tkdb/macaroon";
import { ClientArgumentError } from "./errors.js";
import { NoiseRpc, type RpcOptions } from "./rpc.js";
import type { Authority, OnlineVerification, ReplicationInfo, RevocationPage } from "./verifier.js";

/** Organization and app IDs travel as decimal strings (they may pass 2^53). */
export type Id = bigint | number | string;

function id(v: Id, what: string): string {
  const s = typeof v === "string" ? v : BigInt(v).toString();
  if (!/^(0|[1-9]\d{0,19})$/.test(s)) throw new ClientArgumentError(`${what} must be a non-negative integer`);
  return s;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw new ClientArgumentError(`tkdb answered without ${what}`);
  return v;
}

/**
 * The `replication` field of verify, discharge and revocations replies (and health): the feed
 * epoch, the node's feed sequence, the primary's last heartbeat and its age. Absent or malformed:
 * undefined (an older tkdb), which never counts as an epoch change.
 */
export function replicationOf(v: unknown): ReplicationInfo | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.epoch !== "string" || typeof r.seq !== "string") return undefined;
  if (typeof r.heartbeat_ms !== "number" || typeof r.age_ms !== "number") return undefined;
  return {
    epoch: r.epoch,
    seq: r.seq,
    heartbeatMs: r.heartbeat_ms,
    ageMs: r.age_ms,
    primary: r.primary === true,
  };
}

export interface TkdbVerified extends OnlineVerification {
  /** nonceId of the permission token. */
  nonce: string;
  org: string;
}

export interface TkdbClientOptions extends RpcOptions {
  /** Registry used to read verified caveats (default: core only; pass @tkdb/caveats' flyRegistry). */
  registry?: CaveatRegistry;
}

export class TkdbClient implements Authority {
  private readonly rpc: NoiseRpc;
  private readonly registry: CaveatRegistry;

  constructor(opts: TkdbClientOptions) {
    this.rpc = new NoiseRpc(opts);
    this.registry = opts.registry ?? coreRegistry;
  }

  // ---- verification API (IK) -------------------------------------------------------------

  async verify(header: string): Promise<TkdbVerified> {
    const r = await this.rpc.call<{ caveats: unknown; nonce: unknown; org: unknown; replication?: unknown }>(
      "verify",
      "verify",
      { header },
    );
    const caveats: Caveat[] = caveatSetFromJSON(r.caveats, this.registry);
    const replication = replicationOf(r.replication);
    return {
      caveats,
      nonce: str(r.nonce, "nonce"),
      org: str(r.org, "org"),
      ...(replication === undefined ? {} : { replication }),
    };
  }

  async revocations(cursor: string | undefined, limit?: number): Promise<RevocationPage> {
    const r = await this.rpc.call<{ nonces: unknown; cursor: unknown; replication?: unknown }>(
      "verify",
      "revocations",
      {
        ...(cursor !== undefined ? { cursor } : {}),
        ...(limit !== undefined ? { limit } : {}),
      },
    );
    if (!Array.isArray(r.nonces) || !r.nonces.every((n) => typeof n === "string"))
      throw new ClientArgumentError("tkdb answered a malformed revocation page");
    const replication = replicationOf(r.replication);
    return {
      nonces: r.nonces as string[],
      cursor: str(r.cursor, "cursor"),
      ...(replication === undefined ? {} : { replication }),
    };
  }

  /**
   * A discharge for a third-party ticket tkdb can open (petsem's reader caveat), granted if the
   * whole `userHeader` bundle verifies now and allows deploying org/app ("rw"). It lives at most
   * tkdb's TTL (≤ 5 min) and never past the bundle's earliest expiry, and attests who asked
   * (`UserTokenNonce` + `FlyioUserID`, or `ServiceTokenNonce` for a token with no user).
   */
  async discharge(args: {
    ticket: Uint8Array | string;
    userHeader: string;
    org: Id;
    app: Id;
  }): Promise<string> {
    const ticket = typeof args.ticket === "string" ? args.ticket : base64Encode(args.ticket);
    const r = await this.rpc.call<{ discharge: unknown }>("verify", "discharge", {
      ticket,
      header: args.userHeader,
      org: id(args.org, "org"),
      app: id(args.app, "app"),
    });
    return str(r.discharge, "discharge");
  }

  /**
   * Up, primary or not, and (from a tkdb with replication) `stale`: a replica past its staleness
   * bound, which refuses verify, discharge and revocations with `stale` until it hears the primary.
   */
  async health(): Promise<{ ok: boolean; primary: boolean; stale?: boolean; replication?: ReplicationInfo }> {
    const r = await this.rpc.call<{ ok: boolean; primary: boolean; stale?: unknown; replication?: unknown }>(
      "verify",
      "health",
      {},
    );
    const replication = replicationOf(r.replication);
    return {
      ok: r.ok,
      primary: r.primary,
      ...(typeof r.stale === "boolean" ? { stale: r.stale } : {}),
      ...(replication === undefined ? {} : { replication }),
    };
  }

  // ---- signing API (KK): needs clientStaticKey listed by tkdb -----------------------------

  orgCreate(org: Id): Promise<{ org: string; kid: string; created: boolean }> {
    return this.rpc.call("sign", "org_create", { org: id(org, "org") }, { mutating: true });
  }

  /** Mints a permission token for `org` with caveats in Go's JSON form. */
  mint(org: Id, caveats: unknown[] = []): Promise<{ token: string; nonce: string }> {
    return this.rpc.call("sign", "mint", { org: id(org, "org"), caveats }, { mutating: true });
  }

  /**
   * Revokes a nonce (by nonceId, or by a token/header carrying it): its whole lineage dies, and by
   * default (`derived: true`) every service token strip made from it too; `derived: false` spares
   * those. `derived` in the answer lists the service token nonces revoked with it; `requiredUntil`
   * (unix seconds, or null) is the expiry tkdb recorded for the nonce when it minted it.
   */
  revoke(
    target: { nonce: string } | { token: string },
    opts: { derived?: boolean } = {},
  ): Promise<{ nonce: string; revoked: boolean; derived: string[]; requiredUntil: number | null }> {
    return this.rpc.call(
      "sign",
      "revoke",
      { ...target, ...(opts.derived !== undefined ? { derived: opts.derived } : {}) },
      { mutating: true },
    );
  }

  /** Permission token + its auth discharge → a service token without expiry or auth caveat. */
  strip(header: string): Promise<{ token: string; nonce: string }> {
    return this.rpc.call("sign", "strip", { header }, { mutating: true });
  }
}
