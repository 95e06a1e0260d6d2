/**
 * Litestream configuration: either rendered here from typed options (both services' default), or
 * an operator's file (tkdb's `TKDB_LITESTREAM_CONFIG`). Rendered configs are written in Litestream
 * 0.3 syntax (https://litestream.io/reference/config/) to a private temp folder (0700, file 0600)
 * and run with `-no-expand-env`, so a `$` in a path is never expanded. Credentials are never put
 * in a config: Litestream reads LITESTREAM_ACCESS_KEY_ID / LITESTREAM_SECRET_ACCESS_KEY (or AWS_*)
 * from its environment, which `childEnv` builds from an allow-list.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LitestreamError } from "./errors.js";

/** One replica of the database. Exactly one of `url` and `path`. */
export interface ReplicaOptions {
  /** `file:///absolute/path` or `s3://bucket[/path]` (no credentials, query or fragment) */
  readonly url?: string;
  /** a local folder (a `file` replica); absolute */
  readonly path?: string;
  /** Litestream's replica name (default: its type, `file` or `s3`); must be unique */
  readonly name?: string;
  /** how often WAL frames are shipped (Go duration: 500ms, 1s, 1m); default 1s */
  readonly syncInterval?: string;
  /** how long snapshots and WAL are kept: the point-in-time window (Litestream default 24h) */
  readonly retention?: string;
  readonly retentionCheckInterval?: string;
  readonly snapshotInterval?: string;
}

/** What a rendered config holds besides the database path. */
export interface ConfigOptions {
  readonly replicas: readonly ReplicaOptions[];
  /** how often Litestream looks for new WAL frames; default min(1s, shortest sync interval) */
  readonly monitorInterval?: string;
  readonly checkpointInterval?: string;
  readonly minCheckpointPageCount?: number;
  readonly maxCheckpointPageCount?: number;
}

export interface RenderOptions extends ConfigOptions {
  readonly dbPath: string;
}

/** An operator's Litestream config file; it must list the database being replicated or restored. */
export interface ConfigFile {
  readonly file: string;
  /** Litestream expands `${VAR}` in the file (its default); false passes `-no-expand-env` */
  readonly expandEnv?: boolean;
  /** the file's monitor-interval, if not Litestream's default 1s (readiness waits one) */
  readonly monitorInterval?: string;
}

/** Where Litestream's settings come from: rendered from options, or an operator's file. */
export type ConfigSource = ConfigOptions | ConfigFile;

/** An environment object (the app's, from its env.ts); this package never reads process.env. */
export type EnvObject = Readonly<Record<string, string | undefined>>;

export const DEFAULT_SYNC_INTERVAL = "1s";
export const DEFAULT_MONITOR_INTERVAL = "1s";

function invalid(message: string): LitestreamError {
  return new LitestreamError("invalid_request", message);
}

/** A Go duration as this package accepts it: one positive integer and a unit (ms, s, m, h). */
export function durationMs(d: string, what = "duration"): number {
  const m = /^([1-9]\d{0,8})(ms|s|m|h)$/.exec(d);
  if (m === null) throw invalid(`${what} must be a duration like 500ms, 1s, 5m or 24h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

/**
 * An absolute, normalized path that is safe to put in a config line and on a command line: no
 * control characters, no lone surrogates (Litestream's YAML parser would refuse or mangle them).
 */
export function checkedPath(p: string, what: string): string {
  if (typeof p !== "string" || p === "" || p === ":memory:") {
    throw invalid(`${what} must be a database file path (an in-memory database cannot be backed up)`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(p) || Buffer.from(p, "utf8").toString("utf8") !== p) {
    throw invalid(`${what} contains control characters or invalid UTF-16`);
  }
  const abs = normalize(isAbsolute(p) ? p : resolve(p));
  return abs.length > 1 && abs.endsWith("/") ? abs.slice(0, -1) : abs;
}

/** Validates a replica URL: `file:///absolute/path`, or `s3://bucket[/path]` without credentials. */
export function parseReplicaUrl(v: string, what = "replica url"): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw invalid(`${what} must be a file:// or s3:// URL`);
  }
  if (u.username !== "" || u.password !== "" || u.search !== "" || u.hash !== "") {
    throw invalid(
      `${what} must not hold credentials, a query or a fragment (credentials come from the environment)`,
    );
  }
  if (u.protocol === "file:") {
    if (u.host !== "" || u.pathname === "/" || !u.pathname.startsWith("/")) {
      throw invalid(`${what} must be file:///absolute/path`);
    }
    return u;
  }
  if (u.protocol === "s3:" && u.host !== "") return u;
  throw invalid(`${what} must be file:///absolute/path or s3://bucket/path`);
}

const yamlString = (s: string) => JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar

function replicaLines(r: ReplicaOptions, i: number): string[] {
  const what = `replicas[${i}]`;
  if ((r.url === undefined) === (r.path === undefined))
    throw invalid(`${what} needs exactly one of url and path`);
  const lines: string[] = [];
  if (r.path !== undefined) {
    lines.push("type: file", `path: ${yamlString(checkedPath(r.path, `${what}.path`))}`);
  } else {
    const u = parseReplicaUrl(r.url as string, `${what}.url`);
    if (u.protocol === "file:") {
      lines.push("type: file", `path: ${yamlString(checkedPath(fileURLToPath(u), `${what}.url`))}`);
    } else lines.push(`url: ${yamlString(u.href)}`);
  }
  if (r.name !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(r.name)) throw invalid(`${what}.name must be 1-64 of A-Z a-z 0-9 _ -`);
    lines.push(`name: ${r.name}`);
  }
  const durations: Array<[string, string | undefined]> = [
    ["sync-interval", r.syncInterval ?? DEFAULT_SYNC_INTERVAL],
    ["retention", r.retention],
    ["retention-check-interval", r.retentionCheckInterval],
    ["snapshot-interval", r.snapshotInterval],
  ];
  for (const [key, value] of durations) {
    if (value === undefined) continue;
    durationMs(value, `${what}.${key}`);
    lines.push(`${key}: ${value}`);
  }
  return lines.map((l, j) => (j === 0 ? `      - ${l}` : `        ${l}`));
}

/** The replica names Litestream will use (a replica's name defaults to its type). */
export function replicaNames(opts: ConfigOptions): string[] {
  return opts.replicas.map((r) => {
    if (r.name !== undefined) return r.name;
    if (r.path !== undefined) return "file";
    return r.url?.startsWith("s3:") ? "s3" : "file";
  });
}

/** The effective monitor interval of rendered options, in ms. */
export function monitorIntervalMs(opts: ConfigOptions): number {
  if (opts.monitorInterval !== undefined) return durationMs(opts.monitorInterval, "monitorInterval");
  const syncs = opts.replicas.map((r) => durationMs(r.syncInterval ?? DEFAULT_SYNC_INTERVAL, "syncInterval"));
  return Math.min(1000, ...syncs);
}

function intOption(v: number | undefined, what: string): number | undefined {
  if (v !== undefined && !(Number.isSafeInteger(v) && v > 0))
    throw invalid(`${what} must be a positive integer`);
  return v;
}

/** The Litestream 0.3 YAML for one database and its replicas. */
export function renderConfig(opts: RenderOptions): string {
  const db = checkedPath(opts.dbPath, "dbPath");
  if (!Array.isArray(opts.replicas) || opts.replicas.length === 0)
    throw invalid("at least one replica is needed");
  const names = replicaNames(opts);
  if (new Set(names).size !== names.length) throw invalid("replica names must be unique (set `name`)");
  const replicas = opts.replicas.flatMap((r, i) => replicaLines(r, i));
  const monitorMs = monitorIntervalMs(opts);
  const monitor = opts.monitorInterval ?? (monitorMs < 1000 ? `${monitorMs}ms` : DEFAULT_MONITOR_INTERVAL);
  const lines = ["dbs:", `  - path: ${yamlString(db)}`, `    monitor-interval: ${monitor}`];
  if (opts.checkpointInterval !== undefined) {
    durationMs(opts.checkpointInterval, "checkpointInterval");
    lines.push(`    checkpoint-interval: ${opts.checkpointInterval}`);
  }
  const minPages = intOption(opts.minCheckpointPageCount, "minCheckpointPageCount");
  const maxPages = intOption(opts.maxCheckpointPageCount, "maxCheckpointPageCount");
  if (minPages !== undefined) lines.push(`    min-checkpoint-page-count: ${minPages}`);
  if (maxPages !== undefined) lines.push(`    max-checkpoint-page-count: ${maxPages}`);
  return [...lines, "    replicas:", ...replicas, ""].join("\n");
}

export function isConfigFile(source: ConfigSource): source is ConfigFile {
  return typeof (source as ConfigFile).file === "string";
}

/** Prefix of the private folders rendered configs live in (a reaped orphan's is removed by it). */
export const RENDERED_CONFIG_PREFIX = "litestream-config-";

/** Writes a rendered config to a private temp folder; returns its path and a cleanup function. */
export function writeRenderedConfig(opts: RenderOptions): { path: string; cleanup: () => void } {
  const text = renderConfig(opts);
  const dir = mkdtempSync(join(tmpdir(), RENDERED_CONFIG_PREFIX));
  const path = join(dir, "litestream.yml");
  try {
    writeFileSync(path, text, { mode: 0o600, flag: "wx" });
  } catch (cause) {
    rmSync(dir, { recursive: true, force: true });
    throw new LitestreamError("backup", "cannot write the Litestream config", { cause });
  }
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Removes the folder of a config this package rendered (an orphan's, after it was reaped). */
export function removeRenderedConfig(configPath: string): void {
  const dir = dirname(configPath);
  if (dirname(dir) === tmpdir() && basename(dir).startsWith(RENDERED_CONFIG_PREFIX)) {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What Litestream may see of the app's environment: its own and S3's variables, and TLS/proxy. */
const PASSED = new Set([
  "HOME",
  "TZ",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
]);

/**
 * The child's environment: only LITESTREAM_*, AWS_*, the names above and `passEnv` (variables an
 * operator's config expands). The service's keys (KEKs, Noise keys) never reach Litestream.
 */
export function childEnv(env: EnvObject = {}, passEnv: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (/^(LITESTREAM|AWS)_/.test(k) || PASSED.has(k) || passEnv.includes(k)) out[k] = v;
  }
  return out;
}
