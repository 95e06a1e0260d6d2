/**
 * Continuous backup and point-in-time restore with the real Litestream binary (v0.3.13 from
 * `@flydotio/litestream`). The npm wrapper in node_modules/.bin always exits 0 and does not
 * forward signals, so the platform package's binary is resolved and spawned directly.
 *
 * - `startReplication(dbPath, replica)` runs `litestream replicate -config <generated yml>` as a
 *   child process; `stop()` sends SIGTERM (Litestream does a final sync) and waits for the exit.
 * - `restore({replica, dbPath, outputPath, timestamp?})` runs `litestream restore` (async spawn:
 *   never spawnSync, it would block the event loop).
 * - `restoreBackup({..., kek})` restores to a temporary file, opens it with the KEK (a missing or
 *   wrong KEK is refused with petsem's own `wrong_kek`/`config` errors and the file is removed),
 *   and only then moves it to `outputPath`.
 *
 * Configs are written in Litestream 0.3 syntax to a private temp folder (0700/0600) and removed
 * when replication stops or the restore ends. S3 credentials are never put in the config: the
 * child inherits LITESTREAM_ACCESS_KEY_ID / LITESTREAM_SECRET_ACCESS_KEY (or AWS_*) from the
 * environment.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  litestreamBinary as binary,
  forgetReplicator,
  reapStaleReplicator,
  recordReplicator,
} from "@tkdb/litestream";
import type { BackendName } from "./crypto.js";
import { DEFAULT_SYNC_INTERVAL, type LitestreamConfig, parseReplicaUrl } from "./env.js";
import { PetsemError } from "./errors.js";
import { SecretStore } from "./store.js";

export type { LitestreamConfig } from "./env.js";

/** A replica URL (sync interval defaults to 1s) or a full config. */
export type ReplicaSpec = string | LitestreamConfig;

function backupError(
  message: string,
  details?: Record<string, number | string>,
  cause?: unknown,
): PetsemError {
  return new PetsemError("backup", message, {
    ...(details === undefined ? {} : { details }),
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Absolute path of the real Litestream binary from `@flydotio/litestream-<platform>-<arch>`. */
export function litestreamBinary(): string {
  try {
    return binary();
  } catch (cause) {
    throw backupError((cause as Error).message, undefined, cause);
  }
}

function toSpec(replica: ReplicaSpec): LitestreamConfig {
  const spec = typeof replica === "string" ? { replica, syncInterval: DEFAULT_SYNC_INTERVAL } : replica;
  return { replica: parseReplicaUrl(spec.replica, "replica"), syncInterval: spec.syncInterval };
}

function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (m === null) throw new PetsemError("config", "sync interval must be a duration like 500ms, 1s, 1m");
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

/** The Litestream 0.3 YAML for one database and one replica (strings as JSON: valid YAML). */
export function renderConfig(dbPath: string, replica: ReplicaSpec): string {
  const spec = toSpec(replica);
  const abs = absolute(dbPath);
  const syncMs = durationMs(spec.syncInterval);
  // Litestream notices new WAL frames every monitor-interval (default 1s); never slower than the sync.
  const monitor = syncMs < 1000 ? spec.syncInterval : "1s";
  const url = new URL(spec.replica);
  const target =
    url.protocol === "file:"
      ? [`      - type: file`, `        path: ${JSON.stringify(fileURLToPath(url))}`]
      : [`      - url: ${JSON.stringify(spec.replica)}`];
  return [
    "dbs:",
    `  - path: ${JSON.stringify(abs)}`,
    `    monitor-interval: ${monitor}`,
    "    replicas:",
    ...target,
    `        sync-interval: ${spec.syncInterval}`,
    "",
  ].join("\n");
}

function absolute(p: string): string {
  return isAbsolute(p) ? p : resolve(p);
}

/** Writes the config to a private temp folder; returns its path and a cleanup function. */
function writeConfig(dbPath: string, replica: ReplicaSpec): { path: string; cleanup: () => void } {
  const text = renderConfig(dbPath, replica);
  const dir = mkdtempSync(join(tmpdir(), "petsem-litestream-"));
  const path = join(dir, "litestream.yml");
  writeFileSync(path, text, { mode: 0o600 });
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Keeps the last lines of a child's output (it must be drained or the child blocks). */
class Tail {
  private lines: string[] = [];
  private partial = "";
  constructor(
    private readonly max: number,
    private readonly onLine?: (line: string) => void,
  ) {}
  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString("utf8")).split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      if (line === "") continue;
      this.lines.push(line);
      if (this.lines.length > this.max) this.lines.shift();
      this.onLine?.(line);
    }
  }
  all(): string[] {
    return this.partial === "" ? [...this.lines] : [...this.lines, this.partial];
  }
}

/**
 * One line saying why Litestream failed: the `error="…"` of its last error line, else its last
 * line, capped at 300 characters. (Litestream prints paths and positions, never database content.)
 */
export function summarizeLitestreamOutput(lines: readonly string[]): string {
  const relevant = [...lines].reverse();
  for (const line of relevant) {
    const m = /error="((?:[^"\\]|\\.)*)"/.exec(line) ?? /^error: (.*)$/.exec(line);
    if (m?.[1] !== undefined) return m[1].slice(0, 300);
  }
  const last = relevant.find((l) => l.trim() !== "");
  return last === undefined ? "no output" : last.trim().slice(0, 300);
}

export interface Replication {
  readonly pid: number;
  /** Resolves with the exit code when Litestream exits (for any reason). */
  readonly exited: Promise<number | null>;
  /**
   * SIGTERM (Litestream does a final sync), then waits for the exit; SIGKILL after `timeoutMs`.
   * Rejects with `backup` if Litestream did not exit cleanly (its final sync may have failed).
   *
   * Two Litestream 0.3.13 behaviours found here shape it: (1) the final sync only ships to a
   * generation that exists, and the first one is made on the first monitor tick (~1 s after
   * start), so stop() first waits (up to 5 s) for the first WAL segment to be written; (2) a
   * SIGTERM that lands while a periodic sync is writing a segment races it (both write the same
   * `.tmp` file: "client write: stat …wal.lz4.tmp: no such file", sometimes a panic), so stop()
   * waits (up to 3 s) for an in-flight segment write to finish before signalling.
   */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ReplicationOptions {
  /** each line Litestream logs (positions, paths; no content) */
  readonly onLog?: (line: string) => void;
  /** how long to wait for Litestream to report "replicating to" (default 10 s) */
  readonly startTimeoutMs?: number;
}

/**
 * Starts `litestream replicate` for `dbPath`. Resolves once Litestream reports that it is
 * replicating; rejects with `backup` if it exits or stays silent first.
 */
export async function startReplication(
  dbPath: string,
  replica: ReplicaSpec,
  opts: ReplicationOptions = {},
): Promise<Replication> {
  if (dbPath === ":memory:") throw new PetsemError("config", "an in-memory database cannot be backed up");
  const bin = litestreamBinary();
  const pidFile = `${dbPath}.litestream.pid`;
  try {
    await reapStaleReplicator(pidFile);
  } catch (cause) {
    throw backupError((cause as Error).message, undefined, cause);
  }
  const config = writeConfig(dbPath, replica);
  const child = spawn(bin, ["replicate", "-config", config.path], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    recordReplicator(pidFile, child.pid, config.path);
  } catch (cause) {
    // Unrecorded, a later kill -9 would orphan it with nothing to stop it: do not run it at all.
    child.kill("SIGKILL");
    config.cleanup();
    throw backupError("cannot record the Litestream pid file", undefined, cause);
  }
  let ready: (() => void) | null = null;
  const readyP = new Promise<void>((res) => {
    ready = res;
  });
  let firstSync: (() => void) | null = null;
  const firstSyncP = new Promise<void>((res) => {
    firstSync = res;
  });
  // A sync writes "write snapshot" → "snapshot written" → "write wal segment" → "wal segment written".
  let inFlight = false;
  let idleWaiters: Array<() => void> = [];
  const tail = new Tail(40, (line) => {
    if (line.includes('msg="replicating to"')) ready?.();
    if (line.includes('msg="write snapshot"') || line.includes('msg="write wal segment"')) inFlight = true;
    if (line.includes('msg="wal segment written"')) {
      inFlight = false;
      firstSync?.();
      for (const w of idleWaiters) w();
      idleWaiters = [];
    }
    opts.onLog?.(line);
  });
  child.stdout.on("data", (d: Buffer) => tail.push(d));
  child.stderr.on("data", (d: Buffer) => tail.push(d));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((res) => {
    child.once("error", () => {
      exitCode = -1;
      res(-1);
    });
    child.once("exit", (code) => {
      exitCode = code;
      res(code);
    });
  }).finally(() => {
    config.cleanup();
    forgetReplicator(pidFile, child.pid, config.path);
    process.removeListener("exit", killOnExit);
  });
  /** waits for `p`, the exit, or `ms`, whichever comes first */
  const within = async (p: Promise<unknown>, ms: number): Promise<void> => {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([p, exited, new Promise<void>((res) => (t = setTimeout(res, ms)))]);
    clearTimeout(t);
  };
  // Never leave an orphaned Litestream behind if this process exits without calling stop().
  const killOnExit = () => {
    if (exitCode === undefined) child.kill("SIGTERM");
  };
  process.once("exit", killOnExit);

  const startTimeout = opts.startTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    readyP.then(() => "ready" as const),
    exited.then(() => "exited" as const),
    new Promise<"timeout">((res) => {
      timer = setTimeout(() => res("timeout"), startTimeout);
    }),
  ]);
  clearTimeout(timer);
  if (outcome !== "ready") {
    if (outcome === "timeout") {
      child.kill("SIGKILL");
      await exited;
    }
    throw backupError(`litestream replicate did not start: ${summarizeLitestreamOutput(tail.all())}`, {
      exit_code: exitCode ?? -1,
    });
  }

  let stopping: Promise<void> | null = null;
  return {
    pid: child.pid ?? -1,
    exited,
    stop(timeoutMs = 15_000) {
      if (stopping) return stopping;
      stopping = (async () => {
        if (exitCode === undefined) await within(firstSyncP, 5_000);
        if (exitCode === undefined && inFlight) {
          await within(new Promise<void>((res) => idleWaiters.push(res)), 3_000);
        }
        if (exitCode !== undefined) {
          if (exitCode !== 0) {
            throw backupError(`litestream had exited: ${summarizeLitestreamOutput(tail.all())}`, {
              exit_code: exitCode ?? -1,
            });
          }
          return;
        }
        child.kill("SIGTERM");
        let killTimer: NodeJS.Timeout | undefined;
        const done = await Promise.race([
          exited.then(() => true),
          new Promise<boolean>((res) => {
            killTimer = setTimeout(() => res(false), timeoutMs);
          }),
        ]);
        clearTimeout(killTimer);
        if (!done) {
          child.kill("SIGKILL");
          await exited;
        }
        if (exitCode !== 0) {
          throw backupError(
            `litestream did not shut down cleanly: ${summarizeLitestreamOutput(tail.all())}`,
            {
              exit_code: exitCode ?? -1,
            },
          );
        }
      })();
      return stopping;
    },
  };
}

/** Runs the Litestream binary to completion (async spawn); returns its code and output lines. */
function runLitestream(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((res, rej) => {
    let bin: string;
    try {
      bin = litestreamBinary();
    } catch (e) {
      rej(e);
      return;
    }
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    const tail = new Tail(200);
    child.stdout.on("data", (d: Buffer) => tail.push(d));
    child.stderr.on("data", (d: Buffer) => tail.push(d));
    child.once("error", (cause) => rej(backupError("litestream could not be run", undefined, cause)));
    child.once("close", (code) => res({ code, lines: tail.all() }));
  });
}

export interface RestoreOptions {
  readonly replica: ReplicaSpec;
  /** the live database path the replica belongs to (Litestream finds the replica by it) */
  readonly dbPath: string;
  /** must not exist yet */
  readonly outputPath: string;
  /** point in time; latest when omitted */
  readonly timestamp?: Date;
}

/** `litestream restore -config <yml> -o <out> [-timestamp <RFC3339>] <db>`. */
export async function restore(opts: RestoreOptions): Promise<{ outputPath: string; ms: number }> {
  const out = absolute(opts.outputPath);
  if (opts.timestamp !== undefined && Number.isNaN(opts.timestamp.getTime())) {
    throw new PetsemError("invalid_request", "timestamp must be an RFC 3339 time");
  }
  if (existsSync(out)) throw backupError("the restore output file already exists; choose a new path");
  mkdirSync(dirname(out), { recursive: true });
  const config = writeConfig(opts.dbPath, opts.replica);
  const t0 = performance.now();
  try {
    const args = ["restore", "-config", config.path, "-o", out];
    if (opts.timestamp !== undefined) args.push("-timestamp", opts.timestamp.toISOString());
    args.push(absolute(opts.dbPath));
    const { code, lines } = await runLitestream(args);
    if (code !== 0 || !existsSync(out)) {
      throw backupError(`litestream restore failed: ${summarizeLitestreamOutput(lines)}`, {
        exit_code: code ?? -1,
      });
    }
    return { outputPath: out, ms: performance.now() - t0 };
  } finally {
    config.cleanup();
    // Litestream applies the WAL to `<out>.tmp` through SQLite and may leave its -wal/-shm behind.
    for (const suffix of [".tmp-wal", ".tmp-shm"]) rmSync(`${out}${suffix}`, { force: true });
  }
}

/** Generations Litestream knows for `dbPath` on the replica (`litestream generations`). */
export async function generations(
  dbPath: string,
  replica: ReplicaSpec,
): Promise<Array<{ generation: string; start: string; end: string }>> {
  const config = writeConfig(dbPath, replica);
  try {
    const { code, lines } = await runLitestream(["generations", "-config", config.path, absolute(dbPath)]);
    if (code !== 0) throw backupError(`litestream generations failed: ${summarizeLitestreamOutput(lines)}`);
    return lines.slice(1).flatMap((l) => {
      const [, generation, , start, end] = l.trim().split(/\s+/);
      return generation && start && end ? [{ generation, start, end }] : [];
    });
  } finally {
    config.cleanup();
  }
}

function removeDbFiles(file: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal", ".tmp", ".tmp-wal", ".tmp-shm"])
    rmSync(`${file}${suffix}`, { force: true });
}

export interface RestoreBackupOptions extends RestoreOptions {
  /** the KEK; the restored database must open with it, or nothing is left at outputPath */
  readonly kek: Uint8Array | null | undefined;
  readonly backend?: BackendName;
}

/**
 * Restores to a temporary file beside `outputPath`, opens it with the KEK (`wrong_kek` or
 * `config` if it does not open; the temporary file is then removed) and moves it into place.
 * Returns the restored per-app versions (public metadata) so callers can see what they got.
 */
export async function restoreBackup(opts: RestoreBackupOptions): Promise<{
  outputPath: string;
  ms: number;
  apps: Array<{ org: string; app: string; appVersion: number }>;
}> {
  if (!(opts.kek instanceof Uint8Array) || opts.kek.length !== 32) {
    throw new PetsemError("config", "PETSEM_KEK or PETSEM_KEK_FILE is required to restore a backup");
  }
  const out = absolute(opts.outputPath);
  if (existsSync(out)) throw backupError("the restore output file already exists; choose a new path");
  const temp = `${out}.restoring-${randomBytes(6).toString("hex")}`;
  try {
    const { ms } = await restore({ ...opts, outputPath: temp });
    const store = SecretStore.open({ file: temp, kek: opts.kek, backend: opts.backend ?? "native" });
    let apps: Array<{ org: string; app: string; appVersion: number }>;
    try {
      apps = store.appVersions();
    } finally {
      store.close();
    }
    if (existsSync(out)) throw backupError("the restore output file already exists; choose a new path");
    renameSync(temp, out);
    removeDbFiles(temp);
    return { outputPath: out, ms, apps };
  } catch (e) {
    removeDbFiles(temp);
    throw e;
  }
}
