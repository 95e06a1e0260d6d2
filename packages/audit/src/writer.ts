/**
 * The append-only, hash-chained audit log of one node (issue 14 item 1).
 *
 * Every event is chained (seq, prev, hash) synchronously, in call order, the moment it is
 * appended; writing is separate. `appendDurable` resolves only after the line and everything before
 * it are written and fdatasync'ed: the intent of mutations, `discharge` and `resolve`, written
 * before the effect. Appends that arrive while a sync runs share the next one (group commit).
 * `appendSoon` (the outcome of such an op, after the effect; issue 17) is chained at once, so a
 * broken or closed log still refuses it before the reply, and written with the next group commit
 * or within `soonFlushMs` (a few ms), without the caller waiting for its fdatasync: its intent is
 * already durable, and if the process ends before the outcome reaches the disk, the next `open`
 * finds the intent open and `reconcile` writes the outcome the app can derive ("ok"/"aborted" from
 * the database for a mutation, "unknown" for a discharge or resolve). `appendBuffered` (verify, feed reads) is chained at once and written with the
 * next sync or on a timer, so a crash may lose the last `bufferFlushMs` of them, never a durable
 * one. `count` aggregates feed polls into one `counter` event per (op, actor, outcome, code) per
 * `counterMs`: at most one line per client per op and outcome per minute by default (1 440 a day,
 * about 0.4 MB).
 *
 * Files rotate by size; each segment starts with a `checkpoint` line (head of the previous
 * segment, intents still open). Periodic checkpoints also go to the `checkpoints.jsonl` sidecar,
 * shipped as its own stream, so a log truncated before shipping is caught (verify.ts).
 *
 * A failed write or sync leaves the log refusing every later append (`audit_unavailable`): after
 * a failed fsync the page cache cannot be trusted (the "fsyncgate" lesson), so the process must
 * restart, and `open` recovers from what is on disk.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { GENESIS_PREV, sealLine, type Unsealed } from "./chain.js";
import { AuditError } from "./errors.js";
import {
  AUDIT_FORMAT_VERSION,
  type AuditEventInput,
  type AuditLine,
  type AuditOutcome,
  idsOf,
  parseEventInput,
} from "./event.js";
import { appendHead, releaseLock, segmentName, takeLock } from "./files.js";
import { recover } from "./recover.js";
import { type PendingLine, SegmentWriter } from "./segment-writer.js";

export interface AuditLogOptions {
  /** This node's name (Fly machine id, region): a chain per node. */
  readonly node: string;
  /** Rotate before a segment would pass this size. Default 64 MiB. */
  readonly maxFileBytes?: number;
  /** Milliseconds since the epoch. Default Date.now. */
  readonly clock?: () => number;
  /** Buffered events reach the disk at least this often. Default 1 000 ms. */
  readonly bufferFlushMs?: number;
  /** Checkpoint period. Default 60 000 ms. */
  readonly checkpointMs?: number;
  /** `appendSoon` lines reach the disk at least this often. Default 5 ms. */
  readonly soonFlushMs?: number;
  /** Counter window. Default 60 000 ms. */
  readonly counterMs?: number;
  /** false: no timers (tests drive flush, checkpoint and flushCounters). Default true. */
  readonly timers?: boolean;
}

export interface Appended {
  readonly seq: number;
  readonly hash: string;
}

/**
 * What the app can say of an intent without an outcome: "ok" (its transaction committed),
 * "aborted" (it did not), "unknown" (an effect outside the database, such as a discharge or
 * secret values handed out, that may or may not have reached the caller before the process
 * ended: written as outcome `error`, code `outcome_unknown`).
 */
export type ReconcileDecision = "ok" | "aborted" | "unknown";

export interface CounterKey {
  readonly op: string;
  readonly actor: string;
  readonly outcome?: AuditOutcome;
  readonly code?: string;
}

const MAX_COUNTER_KEYS = 10_000;

const openDirs = new Set<string>();

export class AuditLog {
  private seq: number;
  private prev: string;
  private file: string;
  private fileBytes: number;
  private pending: PendingLine[] = [];
  private flushing: Promise<void> | null = null;
  private readonly out: SegmentWriter;
  private broken: unknown = null;
  private closed = false;
  private readonly openIntents: Map<number, AuditLine>;
  private readonly recovered: Set<number>;
  private counters = new Map<string, { key: CounterKey; count: number }>();
  private counterStart: number;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly clock: () => number;
  private readonly maxFileBytes: number;
  private readonly soonFlushMs: number;
  private soonTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly dir: string,
    readonly node: string,
    opts: AuditLogOptions,
    state: Awaited<ReturnType<typeof recover>>,
    /** Bytes of a torn last line cut off at open (0 after a clean stop). */
    readonly tornBytes: number,
  ) {
    this.clock = opts.clock ?? Date.now;
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
    this.soonFlushMs = opts.soonFlushMs ?? 5;
    this.seq = state.head?.seq ?? 0;
    this.prev = state.head?.hash ?? GENESIS_PREV;
    this.file = state.current?.segment.name ?? segmentName(1);
    this.fileBytes = state.current?.bytes ?? 0;
    this.openIntents = state.openIntents;
    this.recovered = new Set(state.openIntents.keys());
    this.counterStart = this.clock();
    this.out = new SegmentWriter(dir);
  }

  /**
   * Opens (or creates) `dir` as this node's log: takes the writer lock, recovers the head (see
   * recover.ts), starts a new chain in an empty directory, records a cut torn tail as an
   * `audit_repair` event, and starts the flush, checkpoint and counter timers.
   */
  static async open(directory: string, opts: AuditLogOptions): Promise<AuditLog> {
    const dir = resolve(directory);
    if (!(Number.isSafeInteger(opts.maxFileBytes ?? 1) && (opts.maxFileBytes ?? 1) > 0))
      throw new AuditError("invalid_request", "maxFileBytes must be a positive integer");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (openDirs.has(dir)) throw new AuditError("audit_unavailable", "this audit log is already open");
    takeLock(dir);
    openDirs.add(dir);
    try {
      const state = await recover(dir, opts.node);
      const log = new AuditLog(dir, opts.node, opts, state, state.tornBytes);
      if (state.head === undefined) log.chainCheckpoint();
      if (state.tornBytes > 0)
        log.chain({
          kind: "event",
          op: "audit_repair",
          actor: "system",
          outcome: "ok",
          count: state.tornBytes,
        });
      await log.flush();
      if (opts.timers !== false) log.startTimers(opts);
      return log;
    } catch (e) {
      openDirs.delete(dir);
      await releaseLock(dir);
      throw e;
    }
  }

  private startTimers(opts: AuditLogOptions): void {
    const every = (ms: number, fn: () => unknown) => {
      const t = setInterval(() => void Promise.resolve(fn()).catch(() => undefined), ms);
      t.unref();
      this.timers.push(t);
    };
    every(opts.bufferFlushMs ?? 1_000, () => (this.pending.length > 0 ? this.flush() : undefined));
    every(opts.counterMs ?? 60_000, () => this.flushCounters());
    every(opts.checkpointMs ?? 60_000, () => this.checkpoint());
  }

  /** fdatasync calls made (for metrics and the group-commit test). */
  get syncs(): number {
    return this.out.syncs;
  }

  /** The newest line chained (not necessarily on disk yet). */
  get head(): Appended {
    return { seq: this.seq, hash: this.prev };
  }

  /** Durable append: resolves after fdatasync of this line (and all before it). */
  async appendDurable(event: AuditEventInput): Promise<Appended> {
    let done: PendingLine["done"];
    const synced = new Promise<void>((resolve, reject) => {
      done = { resolve, reject };
    });
    const appended = this.chainInput(event, done);
    this.scheduleFlush();
    await synced;
    return appended;
  }

  /** Buffered append: chained now, on disk at the next sync (at most `bufferFlushMs` later). */
  appendBuffered(event: AuditEventInput): Appended {
    return this.chainInput(event);
  }

  /**
   * Outcome append (see the file comment): chained now, refused at once by a broken or closed log;
   * on disk with the next group commit or within `soonFlushMs`, and at `close`. `flush` waits for it.
   */
  appendSoon(event: AuditEventInput): Appended {
    const appended = this.chainInput(event);
    if (this.soonTimer === null)
      this.soonTimer = setTimeout(() => {
        this.soonTimer = null;
        this.scheduleFlush();
      }, this.soonFlushMs);
    return appended;
  }

  /** Counts one occurrence (a feed poll); `flushCounters` writes the totals. */
  count(key: CounterKey): void {
    this.usable();
    const k = `${key.op}\n${key.actor}\n${key.outcome ?? "ok"}\n${key.code ?? ""}`;
    const c = this.counters.get(k);
    if (c !== undefined) {
      c.count++;
      return;
    }
    parseEventInput({ kind: "event", outcome: "ok", ...key });
    if (this.counters.size >= MAX_COUNTER_KEYS) this.flushCounters();
    this.counters.set(k, { key, count: 1 });
  }

  /** One buffered `counter` line per key counted since the last call. */
  flushCounters(): void {
    const windowStart = new Date(this.counterStart).toISOString();
    this.counterStart = this.clock();
    const counters = this.counters;
    this.counters = new Map();
    if (this.broken !== null || this.closed) return;
    for (const { key, count } of counters.values()) {
      const { op, actor, outcome = "ok", code } = key;
      this.chain({ kind: "counter", op, actor, outcome, code, count, window_start: windowStart });
    }
  }

  /**
   * Chains a checkpoint, syncs it, then appends its (seq, hash) to the sidecar: the sidecar never
   * names a line that is not durably on disk.
   */
  async checkpoint(): Promise<Appended> {
    this.usable();
    const cp = this.chainCheckpoint();
    await this.flush();
    await appendHead(this.dir, {
      v: 1,
      kind: "head",
      node: this.node,
      seq: cp.seq,
      hash: cp.hash,
      ts: new Date(this.clock()).toISOString(),
      file: this.file,
    });
    return cp;
  }

  /** Writes and syncs everything chained so far. */
  async flush(): Promise<void> {
    this.scheduleFlush();
    while (this.flushing !== null) await this.flushing;
    if (this.broken !== null) throw this.unavailable();
  }

  /** Intents found without an outcome at open and not reconciled since. */
  pendingIntents(): AuditLine[] {
    return [...this.recovered].flatMap((seq) => {
      const line = this.openIntents.get(seq);
      return line === undefined ? [] : [line];
    });
  }

  /**
   * Appends, for each pending intent, the outcome the app decides by looking at its database
   * (committed: "ok"; not there: "aborted"; an effect it cannot see: "unknown", written as `error`
   * with code `outcome_unknown`), marked `reconciled`. Returns how many it wrote.
   */
  async reconcile(
    decide: (intent: AuditLine) => ReconcileDecision | Promise<ReconcileDecision>,
  ): Promise<number> {
    let n = 0;
    for (const intent of this.pendingIntents()) {
      const decision = await decide(intent);
      if (decision !== "ok" && decision !== "aborted" && decision !== "unknown")
        throw new AuditError("invalid_request", "a reconcile decision is ok, aborted or unknown");
      this.chain({
        ...idsOf(intent),
        op: intent.op,
        actor: intent.actor,
        kind: "outcome",
        ...(decision === "ok" ? { outcome: "ok" } : {}),
        ...(decision === "aborted" ? { outcome: "aborted", code: "not_committed" } : {}),
        ...(decision === "unknown" ? { outcome: "error", code: "outcome_unknown" } : {}),
        intent_seq: intent.seq,
        reconciled: true,
      });
      n++;
    }
    await this.flush();
    return n;
  }

  /** Writes the counters and a final checkpoint, syncs, and releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const t of this.timers) clearInterval(t);
    if (this.soonTimer !== null) clearTimeout(this.soonTimer);
    this.soonTimer = null;
    try {
      if (this.broken === null) {
        this.flushCounters();
        await this.checkpoint();
      }
    } finally {
      this.closed = true;
      while (this.flushing !== null) await this.flushing;
      await this.out.close();
      openDirs.delete(this.dir);
      await releaseLock(this.dir);
    }
  }

  // -------------------------------------------------------------------------------------------

  private unavailable(): AuditError {
    return new AuditError("audit_unavailable", "the audit log cannot be written", { cause: this.broken });
  }

  private usable(): void {
    if (this.closed) throw new AuditError("audit_unavailable", "the audit log is closed");
    if (this.broken !== null) throw this.unavailable();
  }

  private chainInput(event: AuditEventInput, done?: PendingLine["done"]): Appended {
    this.usable();
    const e = parseEventInput(event);
    if (e.kind === "outcome") {
      const intent = this.openIntents.get(e.intent_seq as number);
      if (intent === undefined || intent.op !== e.op)
        throw new AuditError("conflict", `no open ${e.op} intent at seq ${e.intent_seq}`);
    }
    return this.chain(e, done);
  }

  private chainCheckpoint(): Appended {
    return this.chain({
      kind: "checkpoint",
      op: "checkpoint",
      actor: "system",
      head_seq: this.seq,
      head_hash: this.prev,
      open_intents: [...this.openIntents.keys()],
    });
  }

  /**
   * Seals the next line, rotating first when it would overflow the segment: the new segment is
   * named after the seq of its first line, a checkpoint. A line larger than `maxFileBytes` on its
   * own gets a segment to itself rather than being refused.
   */
  private chain(
    fields: Omit<Unsealed, "v" | "seq" | "ts" | "node" | "prev">,
    done?: PendingLine["done"],
  ): Appended {
    const seal = () =>
      sealLine({
        v: AUDIT_FORMAT_VERSION,
        seq: this.seq + 1,
        ts: new Date(this.clock()).toISOString(),
        node: this.node,
        ...fields,
        ...(fields.kind === "checkpoint" ? { file: this.file } : {}),
        prev: this.prev,
      } as Unsealed);
    let sealed = seal();
    const bytes = Buffer.byteLength(sealed.text) + 1;
    if (this.fileBytes > 0 && this.fileBytes + bytes > this.maxFileBytes) {
      this.file = segmentName(this.seq + 1);
      this.fileBytes = 0;
      if (fields.kind !== "checkpoint") this.chainCheckpoint();
      sealed = seal();
    }
    const { line, text } = sealed;
    this.seq = line.seq;
    this.prev = line.hash;
    this.fileBytes += Buffer.byteLength(text) + 1;
    if (line.kind === "intent") this.openIntents.set(line.seq, line);
    if (line.kind === "outcome" && line.intent_seq !== undefined) {
      this.openIntents.delete(line.intent_seq);
      this.recovered.delete(line.intent_seq);
    }
    this.pending.push({ text, file: this.file, ...(done ? { done } : {}) });
    return { seq: line.seq, hash: line.hash };
  }

  private scheduleFlush(): void {
    if (this.flushing !== null || this.pending.length === 0 || this.broken !== null) return;
    this.flushing = this.runFlush().finally(() => {
      this.flushing = null;
      if (this.pending.length > 0 && this.broken === null) this.scheduleFlush();
    });
  }

  /** Writes batches until nothing is pending; the first failure breaks the log for good. */
  private async runFlush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.out.write(batch);
      } catch (e) {
        this.broken = e;
        const failed = [...batch, ...this.pending];
        this.pending = [];
        for (const p of failed) p.done?.reject(this.unavailable());
        return;
      }
      for (const p of batch) p.done?.resolve();
    }
  }
}
