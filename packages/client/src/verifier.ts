/**
 * A verifier that remembers what the authority verified (DESIGN.md, "Client library"):
 *
 * - a token that descends from a verified one is verified locally by continuing the HMAC chain
 *   from the cached tail, with no round trip, only when tkdb's answer for it is certain from the
 *   MAC alone: the appended caveats are first-party, registered, not attestations, and travel
 *   through tkdb's JSON answer unchanged, and the discharges are exactly the ones tkdb verified
 *   (same bytes, same order). Anything else (attestations, 3P, bind, unknown types, malformed or
 *   extra tokens in the header, other discharges) is a miss: tkdb decides it online. The cache
 *   accepts only what tkdb accepts, and returns the caveats tkdb would;
 * - caveats (time, access) are checked on every call, cached or not;
 * - the revocation feed is polled with a cursor; a revoked nonce prunes every cached entry of its
 *   lineage and is never accepted again by this verifier;
 * - if the feed has not answered for longer than `failClosedAfterMs` (measured from the start of
 *   the last successful poll), the whole cache is dropped and every call goes online; if the
 *   authority cannot be reached either, verification fails with UnavailableError, never a pass.
 *   A tkdb replica that cannot hear its primary answers `stale`: a failed poll like any other;
 * - the feed's cursor is a sequence within an epoch (tkdb mints a new one at every restore,
 *   failover or primary start): a reply naming another epoch than the one the cursor belongs to
 *   drops the whole cache and re-reads the feed from the beginning (revoked nonces are kept).
 *
 * Worst-case delay before a revocation at the primary stops a cached pass here, following a tkdb
 * replica: tkdb's heartbeat interval + its staleness bound + failClosedAfterMs (1 + 10 + 30 s with
 * the defaults; docs/ARCHITECTURE.md, "Reads on replicas").
 */
import {
  type Access,
  base64Encode,
  bytesEqual,
  CAV_VALIDITY_WINDOW,
  type Caveat,
  type CaveatRegistry,
  type CryptoBackend,
  caveatSetFromJSON,
  caveatSetToJSON,
  coreRegistry,
  defaultBackend,
  findPermissionAndDischargeTokens,
  type Macaroon,
  type Nonce,
  packCaveat,
  parseAuthorizationHeader,
  validateCaveats,
} from "@tkdb/macaroon";
import { type CacheLimits, entrySize, VerificationCache } from "./cache.js";
import { ancestorOf, appendedCaveats, dischargeSetKey, ownCaveats } from "./chain.js";
import { ClientArgumentError, TokenRefusedError, UnavailableError } from "./errors.js";

/** What the authority answers for a verified header. */
export interface OnlineVerification {
  /** The verified caveat set (discharges' caveats folded in). */
  caveats: Caveat[];
  /** The answering node's replication position (a tkdb with replication). */
  replication?: ReplicationInfo;
}

/** Where the answering tkdb node stands (its replies' `replication` field). */
export interface ReplicationInfo {
  /** The feed epoch: a new one means the cursor and every cached answer are void. */
  epoch: string;
  /** The feed sequence this node holds (decimal). */
  seq: string;
  /** The primary's last heartbeat this node holds (unix ms) and its age as the node measures it. */
  heartbeatMs: number;
  ageMs: number;
  primary: boolean;
}

export interface RevocationPage {
  /** Nonce ids (see `nonceId`) revoked since the cursor. */
  nonces: string[];
  cursor: string;
  replication?: ReplicationInfo;
}

/** The authority's side, as the caching verifier needs it (TkdbClient implements it). */
export interface Authority {
  verify(header: string): Promise<OnlineVerification>;
  revocations(cursor: string | undefined): Promise<RevocationPage>;
}

export interface CachingVerifierOptions {
  authority: Authority;
  /** Location of permission tokens, default `https://api.fly.io/v1`. */
  permissionLocation?: string;
  /** Default 5 000 ms. */
  pollIntervalMs?: number;
  /** Feed silence after which the cache is dropped and verification goes online. Default 30 000. */
  failClosedAfterMs?: number;
  /**
   * A feed page from a tkdb replica whose primary heartbeat is older than this counts as a failed
   * poll, whatever the replica's own bound (TKDB_STALE_AFTER_MS) says. Default 10 000.
   */
  maxReplicationAgeMs?: number;
  cache?: CacheLimits;
  registry?: CaveatRegistry;
  backend?: CryptoBackend;
  /** Clock in unix ms; injectable for tests. */
  now?: () => number;
  /** How a nonce is named in the revocation feed. Default: base64url of its msgpack encoding. */
  nonceId?: (n: Nonce) => string;
}

export interface VerifyOutcome {
  caveats: Caveat[];
  /** True when no round trip was made. */
  cached: boolean;
}

export function defaultNonceId(n: Nonce): string {
  return base64Encode(n.encode());
}

export class CachingVerifier {
  readonly cache: VerificationCache;
  private readonly authority: Authority;
  private readonly permissionLocation: string;
  private readonly pollIntervalMs: number;
  private readonly failClosedAfterMs: number;
  private readonly maxReplicationAgeMs: number;
  private readonly registry: CaveatRegistry;
  private readonly backend: CryptoBackend;
  private readonly now: () => number;
  private readonly nonceId: (n: Nonce) => string;
  private readonly revoked = new Set<string>();
  private cursor: string | undefined;
  /** The feed epoch the cursor and the cache belong to (undefined until a tkdb names one). */
  private epoch: string | undefined;
  private lastFeedOk = Number.NEGATIVE_INFINITY;
  /** Bumped by every revocation seen, so an online answer that raced one is not cached. */
  private revocationEpoch = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private polling: Promise<boolean> | undefined;
  readonly stats = { hits: 0, misses: 0, online: 0, dropped: 0, epochs: 0 };

  constructor(opts: CachingVerifierOptions) {
    if (!opts?.authority) throw new ClientArgumentError("authority is required");
    this.authority = opts.authority;
    this.permissionLocation = opts.permissionLocation ?? "https://api.fly.io/v1";
    this.pollIntervalMs = opts.pollIntervalMs ?? 5_000;
    this.failClosedAfterMs = opts.failClosedAfterMs ?? 30_000;
    this.maxReplicationAgeMs = opts.maxReplicationAgeMs ?? 10_000;
    this.registry = opts.registry ?? coreRegistry;
    this.backend = opts.backend ?? defaultBackend;
    this.now = opts.now ?? Date.now;
    this.nonceId = opts.nonceId ?? defaultNonceId;
    this.cache = new VerificationCache(opts.cache);
  }

  /** Starts polling the feed (first poll at once). */
  start(): void {
    if (this.timer !== undefined) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * When the last successful poll of the revocation feed started (unix ms), or undefined before
   * the first one. Freshness counts from a poll's start (see pollOnce).
   */
  get lastFeedOkAt(): number | undefined {
    return Number.isFinite(this.lastFeedOk) ? this.lastFeedOk : undefined;
  }

  /**
   * Seconds since the last successful poll of the feed started: what `failClosedAfterMs` is
   * compared with. Infinity before the first successful poll (never fresh). For metrics.
   */
  feedLagSeconds(): number {
    return Number.isFinite(this.lastFeedOk) ? Math.max(0, this.now() - this.lastFeedOk) / 1000 : Infinity;
  }

  /** Whether the feed answered recently enough for cached results to be trusted. */
  feedFresh(): boolean {
    return this.now() - this.lastFeedOk <= this.failClosedAfterMs;
  }

  /** One poll of the revocation feed (all pages). Returns whether it succeeded. */
  poll(): Promise<boolean> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<boolean> {
    // Freshness counts from the start: a revocation committed while a page was in flight may be
    // missing from it.
    const started = this.now();
    try {
      for (let page = 0; page < 1000; page++) {
        const asked = this.cursor;
        const r = await this.authority.revocations(asked);
        for (const id of r.nonces) this.markRevoked(id);
        if (this.newEpoch(r.replication)) continue; // cursor reset: read again from the start
        const rep = r.replication;
        if (rep !== undefined && !rep.primary && !(rep.ageMs >= 0 && rep.ageMs <= this.maxReplicationAgeMs))
          throw new UnavailableError("the tkdb replica is too far behind its primary");
        const more = r.nonces.length > 0 && r.cursor !== asked;
        this.cursor = r.cursor;
        if (!more) {
          this.lastFeedOk = Math.max(this.lastFeedOk, started);
          return true;
        }
      }
      // Still more pages: not caught up, so not fresh; the next poll continues from the cursor.
      this.enforceFreshness();
      return false;
    } catch {
      this.enforceFreshness();
      return false;
    }
  }

  /**
   * Records the epoch a reply names. A different one than the cursor's (a restore or failover at
   * tkdb, whose sequence may have been reused) drops the cache and the cursor; returns whether it did.
   */
  private newEpoch(r: ReplicationInfo | undefined): boolean {
    if (r === undefined || r.epoch === "") return false;
    const before = this.epoch;
    this.epoch = r.epoch;
    if (before === undefined || before === r.epoch) return false;
    this.cursor = undefined;
    this.revocationEpoch++;
    this.cache.clear();
    this.stats.epochs++;
    return true;
  }

  private markRevoked(id: string): void {
    this.revoked.add(id);
    this.revocationEpoch++;
    this.cache.pruneNonce(id);
  }

  private enforceFreshness(): boolean {
    if (this.feedFresh()) return true;
    if (this.cache.size > 0) {
      this.cache.clear();
      this.stats.dropped++;
    }
    return false;
  }

  /**
   * Verifies a `FlyV1` header, then checks its caveats against `accesses` (or, with none, at least
   * the validity windows against the clock). Throws TokenRefusedError, UnavailableError or a
   * MacaroonError; returns only for a token that passes.
   */
  async verify(header: string, ...accesses: Access[]): Promise<VerifyOutcome> {
    const fresh = this.enforceFreshness();
    const { permission, discharges, local } = this.splitHeader(header);
    const ids = [permission, ...discharges].map((m) => this.nonceId(m.nonce));
    // tkdb refuses a bundle if any of its nonces is revoked; the feed told us these are.
    for (const id of ids) if (this.revoked.has(id)) throw new TokenRefusedError("revoked", "token revoked");
    const permId = ids[0] as string;
    const dKey = dischargeSetKey(
      discharges.map((d) => d.encode()),
      this.backend,
    );

    let caveats: Caveat[] | undefined;
    if (fresh && local) caveats = this.fromCache(permission, permId, dKey);
    const cached = caveats !== undefined;
    if (caveats === undefined) {
      this.stats.misses++;
      const epoch = this.revocationEpoch;
      this.stats.online++;
      const r = await this.authority.verify(header);
      this.newEpoch(r.replication);
      caveats = r.caveats;
      if (
        local &&
        this.feedFresh() &&
        epoch === this.revocationEpoch &&
        !ids.some((id) => this.revoked.has(id)) &&
        answerMatchesToken(permission, caveats)
      ) {
        const ancestor = ancestorOf(permission);
        this.cache.add({
          nonceId: permId,
          dischargeKey: dKey,
          dependsOn: [...new Set(ids)],
          ancestor,
          caveats,
          bytes: entrySize(ancestor, caveats.length, ids),
        });
      }
    }
    this.check(caveats, accesses);
    return { caveats, cached };
  }

  /**
   * The caveats tkdb would return for `permission` (with the discharges of the cached entry), or
   * undefined when no cached ancestor decides it. tkdb's order (reference §4.3): the token's own
   * caveats, the appended ones after them, then every discharge's caveats.
   */
  private fromCache(permission: Macaroon, permId: string, dKey: string): Caveat[] | undefined {
    for (const e of this.cache.candidates(permId, dKey)) {
      const extra = appendedCaveats(permission, e.ancestor, this.backend);
      if (extra === undefined) continue;
      const wire = extra.map((c) => asTkdbAnswers(c, this.registry));
      if (!wire.every((c) => c !== undefined)) continue;
      this.cache.touch(e);
      this.stats.hits++;
      const k = e.ancestor.ownCount;
      return [...e.caveats.slice(0, k), ...wire, ...e.caveats.slice(k)];
    }
    return undefined;
  }

  private check(caveats: readonly Caveat[], accesses: Access[]): void {
    const now = this.now();
    if (accesses.length > 0) {
      validateCaveats(caveats, ...accesses);
      return;
    }
    const clock: Access = { now: () => new Date(now), validate: () => {} };
    // With no access given, only the clock can be checked: validity windows, not resources.
    for (const c of caveats) {
      if (c.type !== CAV_VALIDITY_WINDOW) continue;
      const err = c.prohibits(clock);
      if (err) throw err;
    }
  }

  /**
   * Splits a header the way tkdb does (apps/tkdb `parse`): malformed and non-macaroon tokens are
   * ignored, the first token at the permission location is the permission token, every other
   * macaroon a discharge candidate. `local` is false when tkdb's reading could differ from a
   * simple one (a malformed token, several permission tokens): such headers always go online.
   */
  private splitHeader(header: string): { permission: Macaroon; discharges: Macaroon[]; local: boolean } {
    const toks = parseAuthorizationHeader(header, { registry: this.registry, backend: this.backend });
    const split = findPermissionAndDischargeTokens(toks, this.permissionLocation);
    const perms = split.permissionTokens.map((t) => t.macaroon);
    const first = perms[0];
    if (first === undefined) {
      throw new TokenRefusedError(
        "no_permission_token",
        `no permission token located at ${this.permissionLocation}`,
      );
    }
    const local = perms.length === 1 && toks.every((t) => t.kind !== "malformed");
    return { permission: first, discharges: split.dischargeTokens.map((t) => t.macaroon), local };
  }
}

/**
 * Whether the authority's answer for `token` starts with the token's own caveats, as tkdb's verify
 * does (reference §4.3). The cache splices appended caveats in after them, so it keeps only answers
 * of that shape; any other answer is used once and not cached.
 */
function answerMatchesToken(token: Macaroon, answer: readonly Caveat[]): boolean {
  const own = ownCaveats(token);
  if (answer.length < own.length) return false;
  return own.every((c, i) => bytesEqual(packCaveat(c), packCaveat(answer[i] as Caveat)));
}

/**
 * tkdb's JSON number form (apps/tkdb `jsonSafe`): integers past 2^53 travel as decimal strings.
 * Kept identical to the server's so the cache sees a caveat exactly as the online answer shows it.
 */
function jsonSafe(v: unknown): unknown {
  if (typeof v === "bigint")
    return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === "object" && !(v instanceof Uint8Array))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

/**
 * The caveat as an online verify would hand it back (tkdb's JSON answer, read with `registry`),
 * or undefined when that trip does not give back the same caveat (same packed bytes): then the
 * online answer could differ from the token's caveat, and only tkdb can say what it is.
 */
function asTkdbAnswers(c: Caveat, registry: CaveatRegistry): Caveat | undefined {
  try {
    const json: unknown = JSON.parse(JSON.stringify(jsonSafe(caveatSetToJSON([c], registry))));
    const back = caveatSetFromJSON(json, registry);
    const only = back.length === 1 ? back[0] : undefined;
    return only !== undefined && bytesEqual(packCaveat(only), packCaveat(c)) ? only : undefined;
  } catch {
    return undefined;
  }
}
