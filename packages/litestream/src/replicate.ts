/**
 * `litestream replicate` as a child of the service: started behind the one-replicator guard,
 * `ready` once the replica holds a restorable snapshot, and `stop()` that lets Litestream do its
 * final sync and removes the guard's record.
 *
 * Litestream 0.3.13 behaviours found here that shape it:
 * 1. The final sync on SIGTERM only ships to a generation that exists; the first one is made on
 *    the first monitor tick after start. So stop() first waits (bounded) for `ready`.
 * 2. A SIGTERM that lands while a periodic sync is writing a segment races it (both write one
 *    `.tmp` file: "client write: stat|rename …wal.lz4.tmp…: no such file", sometimes a panic). So stop()
 *    waits (bounded) for an in-flight write to finish before signalling.
 * 3. On a restart with nothing new to ship Litestream logs nothing: readiness is therefore read
 *    from the replica (`litestream snapshots`) for the generation Litestream is on (its
 *    `.<db>-litestream/generation` file), checked from one monitor interval after start, when it
 *    has decided whether to continue that generation or begin a new one.
 * 4. Point 2's wait cannot close the race: a periodic sync may begin after the check, before the
 *    SIGTERM lands (seen on a busy machine: 5 stops in 15 with 10 ms intervals). Litestream then
 *    logs that `stat|rename …tmp` error and exits. stop() then runs one more Litestream on the same config
 *    (it continues the generation and ships what the lost final sync did not), waits for `ready`
 *    and stops it; it rejects only if that fails too (at most FINAL_SYNC_RETRIES times).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { litestreamBinary } from "./binary.js";
import { type ConfigSource, checkedPath, removeRenderedConfig } from "./config.js";
import { LitestreamError } from "./errors.js";
import { forgetReplicator, reapStaleReplicator, recordReplicator } from "./guard.js";
import {
  type EnvOptions,
  type OpenedConfig,
  openConfig,
  snapshotsWith,
  summarizeLitestreamOutput,
  Tail,
} from "./run.js";

export interface ReplicateOptions extends EnvOptions {
  readonly dbPath: string;
  readonly config: ConfigSource;
  /** the guard's record; default `<dbPath>.litestream.pid` */
  readonly pidFile?: string;
  /** each line Litestream logs (paths and positions; never database content) */
  readonly onLog?: (line: string) => void;
  /** how long `ready` may take before it rejects; default 60 s */
  readonly readyTimeoutMs?: number;
}

export interface ReadyInfo {
  /** the generation the replica holds a snapshot of */
  readonly generation: string;
  readonly replicas: readonly string[];
  readonly ms: number;
}

export interface Replicator {
  readonly pid: number;
  readonly dbPath: string;
  /**
   * Resolves once every replica holds a snapshot of the generation Litestream is on (a restore
   * would now succeed); rejects with `backup` if Litestream exits, is stopped or times out first.
   */
  readonly ready: Promise<ReadyInfo>;
  /** Resolves with the exit code when Litestream exits for any reason (null: killed by a signal). */
  readonly exited: Promise<number | null>;
  /**
   * Waits (≤ 5 s) for `ready` and (≤ 3 s) for an in-flight write, sends SIGTERM (Litestream's final
   * sync), waits for the exit (SIGKILL after `timeoutMs`, default 15 s) and the guard's record is
   * removed. Rejects with `backup` unless Litestream exited 0 without logging an error on the way
   * out: the final sync may not have shipped. If that final sync lost the `.tmp` race of module
   * doc point 4, one more Litestream finishes it (`pid` and `exited` stay the first one's).
   * Idempotent.
   */
  stop(timeoutMs?: number): Promise<void>;
  /** the last lines Litestream printed, for diagnostics */
  output(): string[];
}

/** Module doc point 4: how many more Litestreams stop() may run to finish a final sync that lost the race. */
const FINAL_SYNC_RETRIES = 2;
/** Litestream's error when two syncs wrote one WAL segment's `.tmp` file (module doc point 2). */
const TMP_RACE = /client write: (?:stat|rename) \S+\.tmp\b[^"]*: no such file or directory/;

/** Databases with a live replicator in this process (a second one is refused: `conflict`). */
const active = new Set<string>();

/** Litestream's own record of the generation it is on (0.3: `<dir>/.<name>-litestream/generation`). */
function localGeneration(db: string): string | undefined {
  try {
    const g = readFileSync(join(dirname(db), `.${basename(db)}-litestream`, "generation"), "utf8").trim();
    return /^[0-9a-f]{16}$/.test(g) ? g : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `litestream replicate` for `dbPath`; resolves once it runs and is recorded. */
export function replicate(opts: ReplicateOptions): Promise<Replicator> {
  return replicateWith(opts, FINAL_SYNC_RETRIES);
}

async function replicateWith(opts: ReplicateOptions, retries: number): Promise<Replicator> {
  const db = checkedPath(opts.dbPath, "dbPath");
  if (active.has(db)) throw new LitestreamError("conflict", `a replicator of ${db} is already running`);
  const bin = litestreamBinary();
  const pidFile = opts.pidFile ?? `${db}.litestream.pid`;
  active.add(db);
  let config: OpenedConfig;
  try {
    const stale = readStaleConfigPath(pidFile);
    if (await reapStaleReplicator(pidFile)) {
      if (stale !== undefined) removeRenderedConfig(stale);
    }
    config = await openConfig(db, opts.config, opts);
  } catch (e) {
    active.delete(db);
    throw e;
  }
  const r = start(bin, db, pidFile, config, opts, retries);
  if (r.pid === -1) {
    await r.exited;
    throw new LitestreamError("backup", "litestream replicate could not be started");
  }
  return r;
}

/** The config path of the recorded replicator (to clean an orphan's rendered config after reaping). */
function readStaleConfigPath(pidFile: string): string | undefined {
  try {
    return /^\d+ (.+)$/s.exec(readFileSync(pidFile, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

/** What the replicator knows about its child, from its output and its exit. */
class ChildState {
  readonly t0 = performance.now();
  /** replica names from "replicating to" lines */
  readonly replicas = new Set<string>();
  /** replicas with a snapshot or WAL segment write in flight */
  readonly writing = new Set<string>();
  startedAt: number | undefined;
  signalled = false;
  errorAfterSignal = false;
  /** the error after the SIGTERM was the `.tmp` race of two syncs (module doc point 4) */
  tmpRaceAfterSignal = false;
  exitCode: number | null | undefined;
  exitSignal: string | null = null;
  private readonly waiters = new Set<() => void>();

  /** Reads one line of Litestream's log (logfmt: `time=… level=… msg="…" key=value …`). */
  onLine(line: string): void {
    const replica = /\breplica=(\S+)/.exec(line)?.[1] ?? "";
    if (line.includes('msg="replicating to"')) {
      const name = /\bname=(\S+)/.exec(line)?.[1];
      if (name !== undefined) this.replicas.add(name);
      this.startedAt ??= performance.now();
    }
    if (line.includes('msg="write snapshot"') || line.includes('msg="write wal segment"')) {
      this.writing.add(replica);
    }
    if (line.includes('msg="snapshot written"') || line.includes('msg="wal segment written"')) {
      this.writing.delete(replica);
      this.poke();
    }
    if (this.signalled && /level=ERROR|panic:/.test(line)) this.errorAfterSignal = true;
    if (this.signalled && TMP_RACE.test(line)) this.tmpRaceAfterSignal = true;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Wakes every pause(). */
  poke(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Waits for a write to finish, the exit, a signal, or `ms`, whichever is first. */
  pause(ms: number): Promise<void> {
    return new Promise<void>((res) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        res();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

/** Polls until every replica holds a snapshot of the generation Litestream is on (module doc, 3). */
async function waitReady(
  state: ChildState,
  db: string,
  config: OpenedConfig,
  timeoutMs: number,
  summary: () => string,
): Promise<ReadyInfo> {
  for (;;) {
    if (!state.running || state.signalled) {
      const why = state.signalled ? "was stopped" : "exited";
      throw new LitestreamError("backup", `litestream ${why} before its first snapshot: ${summary()}`, {
        details: { exit_code: state.exitCode ?? -1 },
      });
    }
    if (performance.now() - state.t0 > timeoutMs) {
      throw new LitestreamError(
        "backup",
        `litestream wrote no snapshot within ${timeoutMs} ms: ${summary()}`,
      );
    }
    // One monitor interval after "replicating to", Litestream has chosen its generation.
    const since = state.startedAt === undefined ? -1 : performance.now() - state.startedAt;
    const settled = since >= config.monitorMs + 50;
    const generation = settled ? localGeneration(db) : undefined;
    if (generation !== undefined && state.writing.size === 0) {
      const names = config.replicas ?? [...state.replicas];
      const snaps = await snapshotsWith(db, config).catch(() => []);
      const covered = names.every((r) => snaps.some((s) => s.replica === r && s.generation === generation));
      if (names.length > 0 && covered)
        return { generation, replicas: names, ms: performance.now() - state.t0 };
    }
    await state.pause(settled ? 250 : Math.max(20, config.monitorMs / 4));
  }
}

/** Waits for `p`, `exited` or `ms`, whichever is first (never rejects). */
async function within(p: Promise<unknown>, exited: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), exited, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

/** stop() of module doc points 1 and 2, then SIGTERM and the bounded wait for the exit. */
async function stopChild(
  child: ChildProcess,
  state: ChildState,
  ready: Promise<unknown>,
  exited: Promise<unknown>,
  timeoutMs: number,
  summary: () => string,
): Promise<void> {
  if (state.running) await within(ready, exited, 5_000);
  for (let i = 0; state.running && state.writing.size > 0 && i < 60; i++) await state.pause(50);
  if (state.running) {
    state.signalled = true;
    state.poke();
    child.kill("SIGTERM");
    await within(exited, exited, timeoutMs);
    if (state.running) child.kill("SIGKILL");
  }
  await exited;
  if (state.exitCode !== 0 || state.errorAfterSignal) {
    const what = state.signalled
      ? "did not shut down cleanly (its final sync may not have shipped)"
      : "had exited";
    throw new LitestreamError("backup", `litestream ${what}: ${summary()}`, {
      details: {
        exit_code: state.exitCode ?? -1,
        ...(state.exitSignal === null ? {} : { signal: state.exitSignal }),
      },
    });
  }
}

/**
 * Module doc point 4: the final sync of a stopped Litestream lost the `.tmp` race. One more
 * Litestream on the same config ships what it missed; `first` (the original error) is thrown if
 * that Litestream cannot start, never gets ready, or does not stop cleanly either.
 */
async function finishFinalSync(opts: ReplicateOptions, retries: number, timeoutMs: number, first: unknown) {
  const again = await replicateWith(opts, retries - 1).catch(() => undefined);
  if (again === undefined) throw first;
  try {
    await again.ready;
  } catch {
    await again.stop(5_000).catch(() => {});
    throw first;
  }
  await again.stop(timeoutMs);
}

/** Spawns the replicator, records it, and wires its output, exit, readiness and stop. */
function start(
  bin: string,
  db: string,
  pidFile: string,
  config: OpenedConfig,
  opts: ReplicateOptions,
  retries: number,
): Replicator {
  const child = spawn(bin, ["replicate", ...config.flags], {
    stdio: ["ignore", "pipe", "pipe"],
    env: config.env,
  });
  const state = new ChildState();
  const tail = new Tail(200, (line) => {
    state.onLine(line);
    opts.onLog?.(line);
  });
  child.stdout.on("data", (d: Buffer) => tail.push(d));
  child.stderr.on("data", (d: Buffer) => tail.push(d));
  const summary = () => summarizeLitestreamOutput(tail.all());
  const killOnExit = () => {
    if (state.running) child.kill("SIGTERM");
  };
  const exited = new Promise<number | null>((res) => {
    child.once("error", () => {
      state.exitCode ??= -1;
      res(state.exitCode);
    });
    child.once("close", (code, signal) => {
      state.exitCode ??= code;
      state.exitSignal = signal;
      res(state.exitCode);
    });
  }).finally(() => {
    config.cleanup();
    forgetReplicator(pidFile, child.pid, config.path);
    active.delete(db);
    process.removeListener("exit", killOnExit);
    state.poke();
  });
  if (child.pid !== undefined) {
    try {
      recordReplicator(pidFile, child.pid, config.path);
    } catch (cause) {
      // Unrecorded, a later kill -9 of the service would orphan it with nothing to stop it.
      child.kill("SIGKILL");
      throw new LitestreamError("backup", `cannot record the replicator in ${pidFile}`, { cause });
    }
    // Never leave an orphaned Litestream if the service exits without calling stop().
    process.once("exit", killOnExit);
  }
  const ready = waitReady(state, db, config, opts.readyTimeoutMs ?? 60_000, summary);
  ready.catch(() => {}); // a caller that never awaits `ready` must not crash the process
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid ?? -1,
    dbPath: db,
    ready,
    exited,
    stop(timeoutMs = 15_000) {
      stopping ??= stopChild(child, state, ready, exited, timeoutMs, summary).catch((e: unknown) =>
        state.tmpRaceAfterSignal && retries > 0
          ? finishFinalSync(opts, retries, timeoutMs, e)
          : Promise.reject(e),
      );
      return stopping;
    },
    output: () => tail.all(),
  };
}
