/**
 * Following tkdb's revocation feed (security issue 12, item 7; DESIGN.md "Client library").
 *
 * tkdb's discharge for a reader token lives up to five minutes. Without this, a discharge obtained
 * just before the user's token was revoked at tkdb would keep releasing secrets until it expired.
 * petsem therefore polls tkdb's `revocations` feed through `@tkdb/client` and refuses a discharge
 * whose user (or service) token nonce tkdb has revoked, so the window closes at the poll interval.
 *
 * Fail closed, like the client's verification cache: until a poll has succeeded, and whenever the
 * last successful poll *started* more than `failClosedAfterMs` ago, `status()` is `stale` and
 * resolve is refused with `unavailable`. Freshness is measured from the start of a poll, since a
 * revocation committed while a page was in flight may be missing from it.
 *
 * The set of revoked nonces is kept in memory for the life of the process (petsem re-reads the
 * feed from the beginning at start); past `maxRevoked` ids the feed stops counting as fresh rather
 * than forget one (fail closed).
 *
 * A tkdb replica that cannot hear its primary answers `stale`: a failed poll, like an unreachable
 * tkdb, so past `failClosedAfterMs` resolve is refused. tkdb's cursor is a sequence within a feed
 * epoch (a new one at every restore, failover or primary start, after which sequences may be
 * reused): a page naming another epoch than the cursor's resets the cursor and the poll re-reads
 * the feed from the beginning; the revoked set is kept. Worst case, a revocation at tkdb's primary
 * reaches resolve here within tkdb's heartbeat interval + its staleness bound + `failClosedAfterMs`.
 */
import type { RevocationPage } from "@tkdb/client";

/** tkdb's side, as the feed needs it (`TkdbClient` implements it). */
export interface RevocationSource {
  revocations(cursor: string | undefined): Promise<RevocationPage>;
}

export interface TkdbFeedOptions {
  readonly source: RevocationSource;
  readonly pollIntervalMs: number;
  readonly failClosedAfterMs: number;
  /** unix ms; injectable for tests */
  readonly now?: () => number;
  /** most revoked ids held before failing closed; default 1 000 000 */
  readonly maxRevoked?: number;
  /**
   * a page from a tkdb replica whose primary heartbeat is older than this is a failed poll,
   * whatever the replica's own bound says; default 10 000 (tkdb's default bound)
   */
  readonly maxReplicationAgeMs?: number;
  /** called (with no detail that could hold a secret) when a poll fails */
  readonly onError?: (message: string) => void;
}

/** Declared where it is used (tokens.ts). */
export interface UserRevocations {
  /**
   * `revoked` if tkdb has revoked the token whose nonceId (padded base64 of the msgpack nonce) is
   * `nonceId`, `stale` if the feed cannot vouch for that right now, else `ok`.
   */
  status(nonceId: string): "ok" | "revoked" | "stale";
}

/** Pages read per poll at most (each up to tkdb's page limit). */
const MAX_PAGES_PER_POLL = 1_000;

export class TkdbRevocationFeed implements UserRevocations {
  private readonly revoked = new Set<string>();
  private readonly now: () => number;
  private readonly maxRevoked: number;
  private cursor: string | undefined;
  /** The tkdb feed epoch the cursor belongs to (undefined until tkdb names one). */
  private epoch: string | undefined;
  /** How many times a new epoch reset the cursor. */
  epochResets = 0;
  private lastOkStart = Number.NEGATIVE_INFINITY;
  private overflow = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private polling: Promise<boolean> | undefined;
  private stopped = false;

  constructor(private readonly opts: TkdbFeedOptions) {
    if (!(opts.pollIntervalMs > 0) || !(opts.failClosedAfterMs > opts.pollIntervalMs)) {
      throw new RangeError("the feed needs 0 < pollIntervalMs < failClosedAfterMs");
    }
    this.now = opts.now ?? Date.now;
    this.maxRevoked = opts.maxRevoked ?? 1_000_000;
  }

  /** Whether a poll succeeded recently enough for the revoked set to be trusted. */
  fresh(): boolean {
    return !this.overflow && this.now() - this.lastOkStart <= this.opts.failClosedAfterMs;
  }

  /**
   * Seconds since the last successful poll started (what `failClosedAfterMs` is compared with), for
   * the `tkdb_client_feed_lag_seconds` gauge; Infinity before the first one or once the revoked
   * set overflowed (never fresh again).
   */
  feedLagSeconds(): number {
    if (this.overflow || !Number.isFinite(this.lastOkStart)) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.now() - this.lastOkStart) / 1000;
  }

  status(nonceId: string): "ok" | "revoked" | "stale" {
    // A nonce already known revoked stays refused even while the feed is stale.
    if (this.revoked.has(nonceId)) return "revoked";
    return this.fresh() ? "ok" : "stale";
  }

  /**
   * Polls once at once, then every `pollIntervalMs` (the next poll is scheduled when one ends, so
   * polls never overlap). Resolves after the first poll, with whether it succeeded.
   */
  start(): Promise<boolean> {
    this.stopped = false;
    const first = this.poll();
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.poll().finally(loop), this.opts.pollIntervalMs);
      this.timer.unref?.();
    };
    void first.finally(loop);
    return first;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Records a page's epoch; a different one than the cursor's resets the cursor (returns true). */
  private newEpoch(epoch: string | undefined): boolean {
    if (epoch === undefined || epoch === "") return false;
    const before = this.epoch;
    this.epoch = epoch;
    if (before === undefined || before === epoch) return false;
    this.cursor = undefined;
    this.epochResets++;
    return true;
  }

  /** One poll of every page since the cursor. Returns whether it succeeded. */
  poll(): Promise<boolean> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<boolean> {
    const started = this.now();
    try {
      for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
        const r = await this.opts.source.revocations(this.cursor);
        for (const id of r.nonces) {
          if (this.revoked.size >= this.maxRevoked && !this.revoked.has(id)) {
            this.overflow = true;
            throw new Error("too many revoked nonces to hold");
          }
          this.revoked.add(id);
        }
        if (this.newEpoch(r.replication?.epoch)) continue; // read again from the beginning
        const rep = r.replication;
        const maxAge = this.opts.maxReplicationAgeMs ?? 10_000;
        if (rep !== undefined && !rep.primary && !(rep.ageMs >= 0 && rep.ageMs <= maxAge))
          throw new Error("the tkdb replica is too far behind its primary");
        const more = r.nonces.length > 0 && r.cursor !== this.cursor;
        this.cursor = r.cursor;
        if (!more) {
          this.lastOkStart = Math.max(this.lastOkStart, started);
          return true;
        }
      }
      // Still more pages: not caught up, so not fresh; the next poll continues from the cursor.
      return false;
    } catch (e) {
      this.opts.onError?.(
        e instanceof Error && e.name
          ? `revocation feed poll failed (${e.name})`
          : "revocation feed poll failed",
      );
      return false;
    }
  }
}
