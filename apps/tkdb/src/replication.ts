/**
 * Replication state of this node (issue 14, "Reads on replicas"): the primary's heartbeat, the
 * node's position, staleness, and the feed epoch.
 *
 * - The primary writes `replication.heartbeat_at` (unix ms) every `heartbeatMs` (1 s) into a
 *   one-row table of the replicated database. A replica reads it back: the age of the last
 *   heartbeat it holds is how far behind the primary it may be. The age is the larger of two
 *   clocks: the primary's timestamp against this node's wall clock (catches a replica that receives
 *   the stream late) and the time since this node last saw the value change (catches a stopped
 *   stream on a node whose clock runs behind the primary's). Clock skew between nodes adds to the
 *   bound; nodes run NTP.
 * - Past `staleAfterMs` (TKDB_STALE_AFTER_MS, 10 s) a replica refuses verify, discharge and
 *   revocations with `stale` (a retryable `unavailable`): clients treat it like an unreachable
 *   feed and fail closed after their own threshold. The primary is the source of the data and is
 *   never stale; its heartbeat age is reported all the same.
 * - The epoch: 16 random bytes (base64url) minted by the primary at every start and at every
 *   promotion. A start may follow a restore or a failover, which can lose the newest rows and so
 *   reuse blacklist rowids (the feed's sequence): tkdb cannot tell a plain restart from those, so
 *   every start of a primary counts as one. A client that sees a new epoch drops its cache and
 *   re-reads the feed from the beginning.
 *
 * The state lives in its own table, created here (`CREATE TABLE IF NOT EXISTS`, additive, by the
 * primary only) on a connection of its own: a replica's connection is read-only, so this module
 * can never write there either. A replica whose primary has never written a heartbeat is stale.
 */

import type { LogFn as Logger } from "@tkdb/service";
import { ServiceError } from "@tkdb/service";
import Database from "better-sqlite3";
import { native, type Primitives, randomBytes } from "./crypto.js";
import type { TkdbConfig } from "./env.js";
import { TkdbError } from "./errors.js";
import { assertPrimary, isPrimary } from "./litefs.js";

type RoleConfig = Pick<TkdbConfig, "replica" | "litefsDir">;

/** A replica at start: TKDB_REPLICA, or LiteFS's `.primary` file. Its database opens read-only. */
export function isReplicaAtStart(config: RoleConfig): boolean {
  return config.replica === true || !isPrimary(config.litefsDir);
}

/**
 * Mutations only on the primary: a TKDB_REPLICA node, or a LiteFS replica (naming its primary),
 * refuses with `not_primary`, which clients answer by going to the next endpoint (the primary).
 * With the node's Replication (the server passes it), a node that has not been the primary without
 * a break since its start also refuses (`unavailable`, retryable): a promotion, see
 * `Replication.assertTakesWrites`. The CLI passes none: it runs on the primary's database.
 */
export function assertWritable(config: RoleConfig, replication?: Replication): void {
  if (config.replica === true)
    throw new TkdbError(
      "not_primary",
      "this node is a read-only replica (TKDB_REPLICA); send writes to the primary",
    );
  try {
    assertPrimary(config.litefsDir);
  } catch (e) {
    replication?.noteNotPrimary();
    throw e;
  }
  replication?.assertTakesWrites();
}

/** What each verify, discharge and revocations reply carries (`replication`), and health. */
export interface ReplicationPosition {
  /** The feed epoch ("" before the primary minted one). */
  epoch: string;
  /** The feed's sequence this node holds: the newest blacklist rowid, decimal. */
  seq: string;
  /** The primary's last heartbeat this node holds (unix ms; 0 for none). */
  heartbeat_ms: number;
  /** How old that heartbeat is, as this node measures it (see above). */
  age_ms: number;
  primary: boolean;
}

export interface ReplicationOptions {
  dbPath: string;
  /** Whether this node is the primary now (LiteFS can change it while running). */
  isPrimary: () => boolean;
  /** The database is open read-only here (a replica at start): a promotion needs a restart. */
  readOnly: boolean;
  staleAfterMs: number;
  heartbeatMs: number;
  log: Logger;
  /**
   * Called once when this node becomes primary after starting (or having been) a replica: it must
   * restart, so the start re-applies the revocations in its own audit log before it takes writes.
   */
  onPromoted?: () => void;
  now?: () => number;
  p?: Primitives;
}

/** The node's Replication from its configuration (TKDB_REPLICA, TKDB_LITEFS_DIR, TKDB_*_MS). */
export function openReplication(
  config: RoleConfig & Pick<TkdbConfig, "dbPath" | "staleAfterMs" | "heartbeatMs">,
  o: { readOnly: boolean; log: Logger; p: Primitives; onPromoted?: (() => void) | undefined },
): Replication {
  return new Replication({
    dbPath: config.dbPath,
    isPrimary: () => config.replica !== true && isPrimary(config.litefsDir),
    readOnly: o.readOnly,
    staleAfterMs: config.staleAfterMs ?? DEFAULT_STALE_AFTER_MS,
    heartbeatMs: config.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    log: o.log,
    ...(o.onPromoted === undefined ? {} : { onPromoted: o.onPromoted }),
    p: o.p,
  });
}

type Op<C> = (ctx: C) => Promise<unknown>;

/**
 * A read any node answers (verify, revocations, discharge): a replica past its staleness bound
 * answers `stale`, checked before the op reads (so the data it reads is at least as new as the
 * heartbeat measured); the reply carries the node's position as `replication`.
 */
export function replicatedOp<C>(replication: Replication | undefined, f: Op<C>): Op<C> {
  return async (ctx) => {
    const pos = replication?.assertFresh();
    const r = await f(ctx);
    return pos === undefined ? r : { ...(r as Record<string, unknown>), replication: pos };
  };
}

export const DEFAULT_STALE_AFTER_MS = 10_000;
export const DEFAULT_HEARTBEAT_MS = 1_000;
/** A replica re-reads the heartbeat row at most this often (an older reading only overstates the age). */
const REFRESH_MS = 100;

const CREATE = `CREATE TABLE IF NOT EXISTS replication (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  epoch TEXT NOT NULL,
  epoch_started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
)`;

export class Replication {
  private readonly db: Database.Database;
  private readonly now: () => number;
  private epoch = "";
  private seq = "0";
  private heartbeat = 0;
  /** When this node first saw the current heartbeat value (its own clock). */
  private seenAt: number;
  private readAt = Number.NEGATIVE_INFINITY;
  private wasPrimary: boolean;
  private isPrimaryNow = false;
  private roleAt = Number.NEGATIVE_INFINITY;
  private promoted = false;
  /**
   * Mutations allowed: the node opened writable as the primary and has been the primary at every
   * look since. Cleared for good when it is seen as a replica (see assertTakesWrites).
   */
  private takesWrites: boolean;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly opts: ReplicationOptions) {
    this.now = opts.now ?? Date.now;
    this.seenAt = this.now();
    this.db = new Database(opts.dbPath, { readonly: opts.readOnly, fileMustExist: opts.readOnly });
    this.db.pragma("busy_timeout = 5000");
    this.wasPrimary = !opts.readOnly && opts.isPrimary();
    this.takesWrites = this.wasPrimary;
    if (this.wasPrimary) {
      this.db.exec(CREATE);
      this.mintEpoch("start");
    } else this.refresh(true);
  }

  /** Heartbeats (primary) or re-reads (replica) every heartbeatMs until close. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.opts.heartbeatMs);
    this.timer.unref?.();
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.db.close();
  }

  /**
   * This node's position and the age of the primary's last heartbeat it holds. `live` asks LiteFS
   * for the role now (health); the RPCs use the role as of the last tick or re-read (≤ 100 ms).
   */
  position(live = false): ReplicationPosition {
    const primary = this.role(live);
    if (!primary) this.refresh(false);
    const now = this.now();
    const age =
      this.heartbeat === 0 ? Number.POSITIVE_INFINITY : Math.max(now - this.heartbeat, now - this.seenAt, 0);
    return {
      epoch: this.epoch,
      seq: this.seq,
      heartbeat_ms: this.heartbeat,
      age_ms: Number.isFinite(age) ? age : -1,
      primary,
    };
  }

  /** Whether this node is the primary with a writable handle (a read-only one never is). */
  private role(live: boolean): boolean {
    const now = this.now();
    if (live || now - this.roleAt >= REFRESH_MS) {
      this.roleAt = now;
      this.isPrimaryNow = !this.opts.readOnly && this.opts.isPrimary();
    }
    return this.isPrimaryNow;
  }

  /** Whether a replica is past its bound (never the primary). */
  stale(pos: ReplicationPosition = this.position()): boolean {
    return !pos.primary && (pos.age_ms < 0 || pos.age_ms > this.opts.staleAfterMs);
  }

  /** The position, or `stale` when this replica is past its bound (read before the op's data). */
  assertFresh(): ReplicationPosition {
    const pos = this.position();
    if (this.stale(pos))
      throw new ServiceError(
        "stale",
        pos.age_ms < 0
          ? "this replica holds no heartbeat from the primary: it cannot tell how far behind it is"
          : `this replica has not heard from the primary for ${Math.round(pos.age_ms / 1000)} s (bound ${Math.round(this.opts.staleAfterMs / 1000)} s): ask another node`,
      );
    return pos;
  }

  /** Seen as a replica (a mutation's live role check): no writes until a restart. */
  noteNotPrimary(): void {
    this.takesWrites = false;
    this.wasPrimary = false; // the next tick that sees it primary again is a promotion
  }

  /**
   * Refuses a mutation (`unavailable`, retryable: clients go on to another endpoint or retry) on a
   * node that has not been the primary without a break since its start. A node promoted while
   * running (a replica LiteFS made primary, or a primary that lost its lease and got it back) may
   * hold revocations only in its own audit log that the database it now writes lacks: its start
   * re-applies them (reapply.ts) before it listens, so a promotion restarts the node (onPromoted;
   * serve exits and LiteFS's supervisor and the machine start it again) rather than take writes
   * first. Reads go on being answered meanwhile, as they were on the replica.
   */
  assertTakesWrites(): void {
    if (this.takesWrites) return;
    throw new ServiceError(
      "unavailable",
      this.opts.readOnly || this.promoted
        ? "this node was just promoted to primary: it restarts to re-apply revocations from its audit log before taking writes; retry shortly"
        : "this node has not been the primary since it started: send writes to the primary",
    );
  }

  /** A promotion seen by this running node: no writes here; restart (see assertTakesWrites). */
  private promote(how: string): void {
    this.takesWrites = false;
    if (this.promoted) return;
    this.promoted = true;
    this.opts.log(
      "warn",
      `promoted to primary ${how}: restarting to re-apply revocations before taking writes`,
    );
    this.opts.onPromoted?.();
  }

  /** One heartbeat (primary) or re-read (replica); the timer calls it every heartbeatMs. */
  tick(): void {
    try {
      const primary = this.opts.isPrimary();
      if (primary && this.opts.readOnly) {
        this.promote("on a read-only handle");
        this.refresh(true);
        return;
      }
      if (primary && (!this.wasPrimary || !this.takesWrites)) {
        const first = !this.promoted;
        this.wasPrimary = true;
        this.promote("while running");
        // The epoch changes at once (followers drop their caches); the restart mints another.
        // Until the restart the node keeps its heartbeat (reads go on), but takes no write.
        if (first) {
          this.db.exec(CREATE);
          this.mintEpoch("promotion");
        } else this.beat();
        return;
      }
      if (!primary) this.takesWrites = false;
      this.wasPrimary = primary;
      if (primary) this.beat();
      else this.refresh(true);
    } catch (error) {
      // The age keeps growing: a replica turns stale, which is the point.
      this.opts.log("warn", "replication heartbeat failed", { error });
    }
  }

  private mintEpoch(reason: "start" | "promotion"): void {
    const epoch = Buffer.from(randomBytes(16, this.opts.p ?? native)).toString("base64url");
    const now = this.now();
    this.db
      .prepare(
        `INSERT INTO replication (id, epoch, epoch_started_at, heartbeat_at) VALUES (1, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET epoch = excluded.epoch,
           epoch_started_at = excluded.epoch_started_at, heartbeat_at = excluded.heartbeat_at`,
      )
      .run(epoch, now, now);
    this.epoch = epoch;
    this.observe(now);
    this.seq = this.readSeq();
    this.opts.log("info", "feed epoch minted", { epoch, reason });
  }

  private beat(): void {
    const now = this.now();
    this.db.prepare("UPDATE replication SET heartbeat_at = ? WHERE id = 1").run(now);
    this.observe(now);
    this.seq = this.readSeq();
  }

  private observe(heartbeat: number): void {
    if (heartbeat !== this.heartbeat) {
      this.heartbeat = heartbeat;
      this.seenAt = this.now();
    }
  }

  /** Re-reads the row (at most every REFRESH_MS unless forced); a missing table reads as none. */
  private refresh(force: boolean): void {
    const now = this.now();
    if (!force && now - this.readAt < REFRESH_MS) return;
    this.readAt = now;
    let row: { epoch: string; heartbeat_at: number } | undefined;
    try {
      row = this.db.prepare("SELECT epoch, heartbeat_at FROM replication WHERE id = 1").get() as
        | { epoch: string; heartbeat_at: number }
        | undefined;
    } catch {
      row = undefined; // no table yet: the primary has not written a heartbeat
    }
    this.epoch = row?.epoch ?? "";
    this.observe(row?.heartbeat_at ?? 0);
    this.seq = this.readSeq();
  }

  private readSeq(): string {
    try {
      const r = this.db.prepare("SELECT max(rowid) AS s FROM blacklist").get() as { s: number | null };
      return String(r.s ?? 0);
    } catch {
      return "0";
    }
  }
}
