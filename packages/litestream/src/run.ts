/**
 * Running the Litestream binary: its output (drained, last lines kept, summarized into one line
 * for errors), one-shot commands (async spawn: never spawnSync, it would block the event loop of
 * a server in the same process), the config a command runs with, and the listing commands
 * (`databases`, `generations`, `snapshots`).
 */
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { litestreamBinary } from "./binary.js";
import {
  type ConfigSource,
  checkedPath,
  childEnv,
  DEFAULT_MONITOR_INTERVAL,
  durationMs,
  type EnvObject,
  isConfigFile,
  monitorIntervalMs,
  replicaNames,
  writeRenderedConfig,
} from "./config.js";
import { LitestreamError } from "./errors.js";

/** Keeps the last lines of a child's output (it must be drained or the child blocks). */
export class Tail {
  private lines: string[] = [];
  private partial = "";
  constructor(
    private readonly max: number,
    private readonly onLine?: (line: string) => void,
  ) {}
  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString("utf8")).split("\n");
    this.partial = parts.pop() ?? "";
    if (this.partial.length > 64 * 1024) this.partial = this.partial.slice(-64 * 1024);
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

/** Hides what could be a credential if an operator's config or URL carried one. */
function redact(s: string): string {
  return s
    .replace(/\/\/[^/@\s"]*:[^/@\s"]*@/g, "//[redacted]@")
    .replace(
      /((?:secret|password|token|access[-_]key(?:[-_]id)?)["']?\s*[:=]\s*)("[^"]*"|\S+)/gi,
      "$1[redacted]",
    );
}

/**
 * One line saying why Litestream failed: the `error="…"` of its last error line, else its last
 * line, capped at 300 characters. (Litestream prints paths and positions, never database content.)
 */
export function summarizeLitestreamOutput(lines: readonly string[]): string {
  const relevant = [...lines].reverse();
  for (const line of relevant) {
    const m = /error="((?:[^"\\]|\\.)*)"/.exec(line) ?? /^error: (.*)$/.exec(line);
    if (m?.[1] !== undefined) return redact(m[1]).slice(0, 300);
  }
  const last = relevant.find((l) => l.trim() !== "");
  return last === undefined ? "no output" : redact(last.trim()).slice(0, 300);
}

/** Runs the binary to completion; returns its exit code and output lines. */
export function runLitestream(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((res, rej) => {
    let bin: string;
    try {
      bin = litestreamBinary();
    } catch (e) {
      rej(e);
      return;
    }
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const tail = new Tail(500);
    child.stdout.on("data", (d: Buffer) => tail.push(d));
    child.stderr.on("data", (d: Buffer) => tail.push(d));
    child.once("error", (cause) =>
      rej(new LitestreamError("backup", "litestream could not be run", { cause })),
    );
    child.once("close", (code) => res({ code, lines: tail.all() }));
  });
}

/** The environment a command runs with. */
export interface EnvOptions {
  /** the app's environment object: LITESTREAM_*, AWS_*, TLS and proxy variables are passed on */
  readonly env?: EnvObject;
  /** further variables to pass (those an operator's config expands) */
  readonly passEnv?: readonly string[];
}

/** A config ready for a command line: `-config <path> [-no-expand-env]`. */
export interface OpenedConfig {
  readonly path: string;
  readonly flags: readonly string[];
  readonly env: Record<string, string>;
  /** the replica names, when known (rendered configs) */
  readonly replicas: readonly string[] | undefined;
  readonly monitorMs: number;
  readonly rendered: boolean;
  cleanup(): void;
}

/**
 * The config for `dbPath`: rendered to a private temp file, or the operator's file after checking
 * (with `litestream databases`) that it replicates exactly that database: a file naming another
 * path would "replicate" nothing and every restore would say "no backups", too late.
 */
export async function openConfig(
  dbPath: string,
  source: ConfigSource,
  opts: EnvOptions,
): Promise<OpenedConfig> {
  const db = checkedPath(dbPath, "dbPath");
  const env = childEnv(opts.env, opts.passEnv);
  if (!isConfigFile(source)) {
    const monitorMs = monitorIntervalMs(source); // validates before anything is written
    const written = writeRenderedConfig({ ...source, dbPath: db });
    const flags = ["-config", written.path, "-no-expand-env"];
    const replicas = replicaNames(source);
    return { path: written.path, flags, env, replicas, monitorMs, rendered: true, cleanup: written.cleanup };
  }
  const path = checkedPath(source.file, "config file");
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
  } catch (cause) {
    throw new LitestreamError("config", `the Litestream config ${path} is not a readable file`, { cause });
  }
  const monitorMs = durationMs(source.monitorInterval ?? DEFAULT_MONITOR_INTERVAL, "monitorInterval");
  const flags = source.expandEnv === false ? ["-config", path, "-no-expand-env"] : ["-config", path];
  const { code, lines } = await runLitestream(["databases", ...flags], env);
  if (code !== 0) {
    throw new LitestreamError(
      "config",
      `litestream cannot read ${path}: ${summarizeLitestreamOutput(lines)}`,
      {
        details: { exit_code: code ?? -1 },
      },
    );
  }
  // `databases` prints "path  replicas" rows (tab-aligned); the db must be listed with a replica.
  const listed = lines.slice(1).some((l) => l.startsWith(db) && /^\s+\S+\s*$/.test(l.slice(db.length)));
  if (!listed) throw new LitestreamError("config", `the Litestream config ${path} has no replica for ${db}`);
  return { path, flags, env, replicas: undefined, monitorMs, rendered: false, cleanup: () => {} };
}

/** Runs a listing command and returns its rows (header dropped) split on whitespace. */
async function listing(
  cmd: "generations" | "snapshots",
  db: string,
  config: OpenedConfig,
): Promise<string[][]> {
  const { code, lines } = await runLitestream([cmd, ...config.flags, db], config.env);
  if (code !== 0) {
    throw new LitestreamError("backup", `litestream ${cmd} failed: ${summarizeLitestreamOutput(lines)}`, {
      details: { exit_code: code ?? -1 },
    });
  }
  return lines.slice(1).map((l) => l.trim().split(/\s+/));
}

export interface GenerationInfo {
  readonly replica: string;
  readonly generation: string;
  /** RFC 3339, as Litestream prints it */
  readonly start: string;
  readonly end: string;
}

export interface SnapshotInfo {
  readonly replica: string;
  readonly generation: string;
  /** WAL index the snapshot was taken at (hex in Litestream's file names, decimal here) */
  readonly index: number;
  readonly size: number;
  readonly created: string;
}

/** Options for the listing commands: the database and where its replicas are configured. */
export interface ListOptions extends EnvOptions {
  readonly dbPath: string;
  readonly config: ConfigSource;
}

async function withConfig<T>(opts: ListOptions, f: (db: string, c: OpenedConfig) => Promise<T>): Promise<T> {
  const config = await openConfig(opts.dbPath, opts.config, opts);
  try {
    return await f(checkedPath(opts.dbPath, "dbPath"), config);
  } finally {
    config.cleanup();
  }
}

const GENERATION = /^[0-9a-f]{16}$/;

export function parseGenerations(rows: readonly string[][]): GenerationInfo[] {
  return rows.flatMap(([replica, generation, , start, end]) =>
    replica && generation && GENERATION.test(generation) && start && end
      ? [{ replica, generation, start, end }]
      : [],
  );
}

export function parseSnapshots(rows: readonly string[][]): SnapshotInfo[] {
  return rows.flatMap(([replica, generation, index, size, created]) =>
    replica && generation && GENERATION.test(generation) && index && size && created
      ? [{ replica, generation, index: Number(index), size: Number(size), created }]
      : [],
  );
}

/** `litestream generations`: every generation of the database on each replica. */
export function generations(opts: ListOptions): Promise<GenerationInfo[]> {
  return withConfig(opts, async (db, c) => parseGenerations(await listing("generations", db, c)));
}

/** `litestream snapshots`: every snapshot of the database on each replica. */
export function snapshots(opts: ListOptions): Promise<SnapshotInfo[]> {
  return withConfig(opts, async (db, c) => parseSnapshots(await listing("snapshots", db, c)));
}

/** `snapshots` with an already opened config (the readiness check of a running replicator). */
export async function snapshotsWith(db: string, config: OpenedConfig): Promise<SnapshotInfo[]> {
  return parseSnapshots(await listing("snapshots", db, config));
}
