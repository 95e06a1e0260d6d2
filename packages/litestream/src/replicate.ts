/**
 * `litestream replicate` as a child of the service: started behind the one-replicator guard,
 * `ready` once the replica holds a restorable snapshot, and `stop()` that lets Litestream do its
 * final sync and removes the guard's record.
 *
 * Litestream 0.3.13 behaviours found here that shape it:
 * 1. The final sync on SIGTERM only ships to a generation that exists; the first one is made on
 *    the first monitor tick after start. So stop() first waits (bounded) for `ready`.
 * 2. A SIGTERM that lands while a periodic sync is writing a segment races it (both write one
 *    `.tmp` file: "client write: stat …wal.lz4.tmp: no such file", sometimes a panic). So stop()
 *    waits (bounded) for an in-flight write to finish before signalling.
 * 3. On a restart with nothing new to ship Litestream logs nothing: readiness is therefore read
 *    from the replica (`litestream snapshots`) for the generation Litestream is on (its
 *    `.<db>-litestream/generation` file), checked from one monitor interval after start, when it
 *    has decided whether to continue that generation or begin a new one.
 */
import { spawn } from "node:child_process";
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
   * out: the final sync may not have shipped. Idempotent.
   */
  stop(timeoutMs?: number): Promise<void>;
  /** the last lines Litestream printed, for diagnostics */
  output(): string[];
}

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
export async function replicate(opts: ReplicateOptions): Promise<Replicator> {
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
  const r = start(bin, db, pidFile, config, opts);
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

// One function on purpose (about 140 lines): the child, its output watcher, the exit bookkeeping,
// readiness and stop share the process's state, and splitting them would pass that state around.
function start(
  bin: string,
  db: string,
  pidFile: string,
  config: OpenedConfig,
  opts: ReplicateOptions,
): Replicator {
  const child = spawn(bin, ["replicate", ...config.flags], {
    stdio: ["ignore", "pipe", "pipe"],
    env: config.env,
  });
  const t0 = performance.now();
  const replicas = new Set<string>();
  const writing = new Set<string>();
  let startedAt: number | undefined;
  let signalled = false;
  let errorAfterSignal = false;
  const waiters = new Set<() => void>();
  const poke = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  const tail = new Tail(200, (line) => {
    const replica = /\breplica=(\S+)/.exec(line)?.[1] ?? "";
    if (line.includes('msg="replicating to"')) {
      const name = /\bname=(\S+)/.exec(line)?.[1];
      if (name !== undefined) replicas.add(name);
      startedAt ??= performance.now();
    }
    if (line.includes('msg="write snapshot"') || line.includes('msg="write wal segment"'))
      writing.add(replica);
    if (line.includes('msg="snapshot written"') || line.includes('msg="wal segment written"')) {
      writing.delete(replica);
      poke();
    }
    if (signalled && /level=ERROR|panic:/.test(line)) errorAfterSignal = true;
    opts.onLog?.(line);
  });
  child.stdout.on("data", (d: Buffer) => tail.push(d));
  child.stderr.on("data", (d: Buffer) => tail.push(d));

  let exitCode: number | null | undefined;
  let exitSignal: string | null = null;
  const killOnExit = () => {
    if (exitCode === undefined) child.kill("SIGTERM");
  };
  const exited = new Promise<number | null>((res) => {
    child.once("error", () => {
      exitCode ??= -1;
      res(exitCode);
    });
    child.once("close", (code, signal) => {
      exitCode ??= code;
      exitSignal = signal;
      res(exitCode);
    });
  }).finally(() => {
    config.cleanup();
    forgetReplicator(pidFile, child.pid, config.path);
    active.delete(db);
    process.removeListener("exit", killOnExit);
    poke();
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

  /** Waits for an output event, the exit, or `ms`, whichever is first. */
  const pause = (ms: number) =>
    new Promise<void>((res) => {
      const done = () => {
        clearTimeout(t);
        waiters.delete(done);
        res();
      };
      const t = setTimeout(done, ms);
      waiters.add(done);
    });
  const summary = () => summarizeLitestreamOutput(tail.all());
  const readyTimeout = opts.readyTimeoutMs ?? 60_000;
  const ready = (async (): Promise<ReadyInfo> => {
    for (;;) {
      const elapsed = performance.now() - t0;
      if (exitCode !== undefined || signalled) {
        const why = signalled ? "was stopped" : "exited";
        throw new LitestreamError("backup", `litestream ${why} before its first snapshot: ${summary()}`, {
          details: { exit_code: exitCode ?? -1 },
        });
      }
      if (elapsed > readyTimeout) {
        throw new LitestreamError(
          "backup",
          `litestream wrote no snapshot within ${readyTimeout} ms: ${summary()}`,
        );
      }
      // One monitor interval after "replicating to", Litestream has chosen its generation.
      const settled = startedAt !== undefined && performance.now() - startedAt >= config.monitorMs + 50;
      const generation = settled ? localGeneration(db) : undefined;
      if (generation !== undefined && writing.size === 0) {
        const names = config.replicas ?? [...replicas];
        const snaps = await snapshotsWith(db, config).catch(() => []);
        const covered = names.every((r) => snaps.some((s) => s.replica === r && s.generation === generation));
        if (names.length > 0 && covered) return { generation, replicas: names, ms: performance.now() - t0 };
      }
      await pause(settled ? 250 : Math.max(20, config.monitorMs / 4));
    }
  })();
  ready.catch(() => {}); // a caller that never awaits `ready` must not crash the process

  /** Waits for `p` or `ms`, whichever is first (never rejects). */
  const within = async (p: Promise<unknown>, ms: number) => {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([p.catch(() => {}), exited, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
  };
  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs = 15_000): Promise<void> => {
    stopping ??= (async () => {
      if (exitCode === undefined) await within(ready, 5_000);
      for (let i = 0; exitCode === undefined && writing.size > 0 && i < 60; i++) await pause(50);
      if (exitCode === undefined) {
        signalled = true;
        poke();
        child.kill("SIGTERM");
        await within(exited, timeoutMs);
        if (exitCode === undefined) child.kill("SIGKILL");
      }
      await exited;
      if (exitCode !== 0 || errorAfterSignal) {
        const what = signalled
          ? "did not shut down cleanly (its final sync may not have shipped)"
          : "had exited";
        throw new LitestreamError("backup", `litestream ${what}: ${summary()}`, {
          details: { exit_code: exitCode ?? -1, ...(exitSignal === null ? {} : { signal: exitSignal }) },
        });
      }
    })();
    return stopping;
  };

  return {
    pid: child.pid ?? -1,
    dbPath: db,
    ready,
    exited,
    stop,
    output: () => tail.all(),
  };
}
