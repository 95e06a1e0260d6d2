/**
 * The one reader of process.env (STYLE.md habit 15). Parses the environment into a typed,
 * validated `PetsemConfig` or throws `PetsemError("config")` naming the variable — never its value.
 *
 * | Variable | Meaning | Default |
 * |---|---|---|
 * | PETSEM_HOST | listen address | 127.0.0.1 |
 * | PETSEM_PORT | listen port (0 = any) | 7402 |
 * | PETSEM_DATA_DIR | folder holding petsem.db | ./data/petsem |
 * | PETSEM_KEK / PETSEM_KEK_FILE | key-encryption key, 32 bytes (64 hex or 43 base64url) | required |
 * | PETSEM_NOISE_KEY / PETSEM_NOISE_KEY_FILE | Noise static X25519 private key, 32 bytes | required for `serve` |
 * | PETSEM_TKDB_SHARED_KEY / _FILE | key shared with tkdb for the reader token's 3P caveat | required for reader tokens |
 * | PETSEM_TKDB_LOCATION | tkdb's location (the 3P caveat's location) | https://api.fly.io/v1 |
 * | PETSEM_LOCATION | petsem's token location | https://api.fly.io/secrets/v1 |
 * | PETSEM_CRYPTO_BACKEND | native or noble | native |
 * | PETSEM_LITESTREAM_REPLICA | Litestream replica: `file:///abs/path` or `s3://bucket/path` | unset = no backup |
 * | PETSEM_LITESTREAM_SYNC_INTERVAL | how often Litestream ships WAL frames (Go duration: 500ms, 1s, 1m) | 1s |
 * | PETSEM_TKDB_URL | tkdb's verification API, for its revocation feed: http(s) URLs, comma-separated, nearest first | required to serve with a tkdb shared key |
 * | PETSEM_TKDB_PUBLIC_KEY / _FILE | tkdb's Noise static public key (32 bytes, 64 hex or 43 base64url) | required with PETSEM_TKDB_URL |
 * | PETSEM_TKDB_FEED_POLL_MS | how often tkdb's revocation feed is polled (100..60000) | 5000 |
 * | PETSEM_TKDB_FEED_FAIL_CLOSED_MS | feed silence after which `resolve` is refused with `unavailable` (poll..300000) | 30000 |
 *
 * Production rule (security issue 12, item 7): `serve` with PETSEM_TKDB_SHARED_KEY (that is, a
 * petsem that can resolve) refuses to start without PETSEM_TKDB_URL and PETSEM_TKDB_PUBLIC_KEY: a
 * discharge for a user token that tkdb has since revoked must stop working at the feed's poll
 * interval, not at the discharge's expiry. Without a shared key petsem can neither mint reader
 * tokens nor resolve, so it needs no feed. There is no switch to run `resolve` without the feed.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { type BackendName, parseKey32 } from "./crypto.js";
import { PetsemError } from "./errors.js";

export const DEFAULT_PETSEM_LOCATION = "https://api.fly.io/secrets/v1";
export const DEFAULT_TKDB_LOCATION = "https://api.fly.io/v1";
export const DEFAULT_PORT = 7402;

/** Continuous backup with Litestream (src/litestream.ts). */
export interface LitestreamConfig {
  /** `file:///absolute/path` or `s3://bucket/path` */
  readonly replica: string;
  /** Go duration, e.g. `1s` */
  readonly syncInterval: string;
}

export const DEFAULT_SYNC_INTERVAL = "1s";

/** Following tkdb's revocation feed (src/tkdb-feed.ts). */
export interface TkdbFeedConfig {
  /** tkdb's verification API endpoints, nearest first */
  readonly urls: readonly string[];
  /** tkdb's Noise static public key (pinned) */
  readonly publicKey: Uint8Array;
  readonly pollIntervalMs: number;
  /** feed silence after which resolve fails closed */
  readonly failClosedAfterMs: number;
}

export const DEFAULT_FEED_POLL_MS = 5_000;
export const DEFAULT_FEED_FAIL_CLOSED_MS = 30_000;
/** The longest feed silence petsem can be configured to tolerate: a discharge's own lifetime. */
export const MAX_FEED_FAIL_CLOSED_MS = 300_000;
const DURATION_RE = /^[1-9]\d{0,6}(ms|s|m|h)$/;

export interface PetsemConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly kek: Uint8Array;
  readonly noiseStaticKey: Uint8Array | null;
  readonly tkdbSharedKey: Uint8Array | null;
  readonly tkdbLocation: string;
  readonly location: string;
  readonly backend: BackendName;
  /** null when PETSEM_LITESTREAM_REPLICA is unset: no backup runs */
  readonly litestream: LitestreamConfig | null;
  /** null when PETSEM_TKDB_URL is unset (allowed only where petsem cannot resolve, see above) */
  readonly tkdbFeed: TkdbFeedConfig | null;
}

export type EnvSource = Readonly<Record<string, string | undefined>>;

function configError(message: string): PetsemError {
  return new PetsemError("config", message);
}

/** Reads a key from `NAME` or from the file named by `NAME_FILE` (exactly one of them). */
function readKey(env: EnvSource, name: string, readFile: (path: string) => string): Uint8Array | null {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && direct !== "" && file !== undefined && file !== "") {
    throw configError(`set only one of ${name} and ${name}_FILE`);
  }
  let text: string;
  if (direct !== undefined && direct !== "") {
    text = direct;
  } else if (file !== undefined && file !== "") {
    try {
      text = readFile(file);
    } catch (cause) {
      throw new PetsemError("config", `${name}_FILE cannot be read`, { cause });
    }
  } else {
    return null;
  }
  const key = parseKey32(text);
  if (key === null) throw configError(`${name} must be 32 bytes as 64 hex or 43 base64url characters`);
  return key;
}

function parseUrl(env: EnvSource, name: string, dflt: string): string {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  try {
    const u = new URL(v);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("scheme");
  } catch {
    throw configError(`${name} must be an http(s) URL`);
  }
  return v;
}

/** Validates a Litestream replica URL: `file://` with an absolute path, or `s3://bucket[/path]`. */
export function parseReplicaUrl(v: string, name = "PETSEM_LITESTREAM_REPLICA"): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw configError(`${name} must be a file:// or s3:// URL`);
  }
  if (u.protocol === "file:") {
    if (
      u.host !== "" ||
      !u.pathname.startsWith("/") ||
      u.pathname === "/" ||
      u.search !== "" ||
      u.hash !== ""
    ) {
      throw configError(`${name} must be file:///absolute/path`);
    }
    return v;
  }
  if (u.protocol === "s3:") {
    if (u.host === "" || u.username !== "" || u.password !== "") {
      throw configError(
        `${name} must be s3://bucket/path (credentials go in LITESTREAM_ACCESS_KEY_ID/SECRET)`,
      );
    }
    return v;
  }
  throw configError(`${name} must be a file:// or s3:// URL`);
}

function parseLitestream(env: EnvSource): LitestreamConfig | null {
  const replica = env.PETSEM_LITESTREAM_REPLICA;
  const interval = env.PETSEM_LITESTREAM_SYNC_INTERVAL;
  let syncInterval = DEFAULT_SYNC_INTERVAL;
  if (interval !== undefined && interval !== "") {
    if (!DURATION_RE.test(interval)) {
      throw configError("PETSEM_LITESTREAM_SYNC_INTERVAL must be a duration like 500ms, 1s, 1m");
    }
    syncInterval = interval;
  }
  if (replica === undefined || replica === "") return null;
  return { replica: parseReplicaUrl(replica), syncInterval };
}

function parseMs(env: EnvSource, name: string, dflt: number, min: number, max: number): number {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  if (!/^\d{1,7}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw configError(`${name} must be an integer number of milliseconds in ${min}..${max}`);
  }
  return Number(v);
}

function parseTkdbFeed(env: EnvSource, readFile: (path: string) => string): TkdbFeedConfig | null {
  const raw = env.PETSEM_TKDB_URL;
  const publicKey = readKey(env, "PETSEM_TKDB_PUBLIC_KEY", readFile);
  if (raw === undefined || raw === "") {
    if (publicKey !== null) throw configError("PETSEM_TKDB_PUBLIC_KEY is set without PETSEM_TKDB_URL");
    return null;
  }
  const urls = raw.split(",").map((u) => u.trim());
  if (urls.length > 16 || urls.some((u) => u === "")) {
    throw configError("PETSEM_TKDB_URL must be 1..16 comma-separated http(s) URLs");
  }
  for (const u of urls) parseUrl({ PETSEM_TKDB_URL: u }, "PETSEM_TKDB_URL", "");
  if (publicKey === null) {
    throw configError("PETSEM_TKDB_PUBLIC_KEY (tkdb's Noise public key) is required with PETSEM_TKDB_URL");
  }
  const pollIntervalMs = parseMs(env, "PETSEM_TKDB_FEED_POLL_MS", DEFAULT_FEED_POLL_MS, 100, 60_000);
  const failClosedAfterMs = parseMs(
    env,
    "PETSEM_TKDB_FEED_FAIL_CLOSED_MS",
    Math.max(DEFAULT_FEED_FAIL_CLOSED_MS, pollIntervalMs * 2),
    1,
    MAX_FEED_FAIL_CLOSED_MS,
  );
  if (failClosedAfterMs <= pollIntervalMs) {
    throw configError("PETSEM_TKDB_FEED_FAIL_CLOSED_MS must be longer than PETSEM_TKDB_FEED_POLL_MS");
  }
  return { urls, publicKey, pollIntervalMs, failClosedAfterMs };
}

export interface LoadOptions {
  /**
   * `serve`: the Noise static key is required, and so is tkdb's revocation feed whenever a tkdb
   * shared key makes resolve possible. Other commands (e.g. `token mint`) need neither.
   */
  readonly requireNoiseKey?: boolean;
  readonly readFile?: (path: string) => string;
}

export function loadConfig(env: EnvSource = process.env, opts: LoadOptions = {}): PetsemConfig {
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const host = env.PETSEM_HOST && env.PETSEM_HOST !== "" ? env.PETSEM_HOST : "127.0.0.1";
  let port = DEFAULT_PORT;
  if (env.PETSEM_PORT !== undefined && env.PETSEM_PORT !== "") {
    if (!/^\d{1,5}$/.test(env.PETSEM_PORT) || Number(env.PETSEM_PORT) > 65535) {
      throw configError("PETSEM_PORT must be an integer 0..65535");
    }
    port = Number(env.PETSEM_PORT);
  }
  const dirRaw = env.PETSEM_DATA_DIR && env.PETSEM_DATA_DIR !== "" ? env.PETSEM_DATA_DIR : "./data/petsem";
  const dataDir = isAbsolute(dirRaw) ? dirRaw : resolve(dirRaw);

  const kek = readKey(env, "PETSEM_KEK", readFile);
  if (kek === null)
    throw configError("PETSEM_KEK or PETSEM_KEK_FILE is required; petsem refuses to start without it");
  const noiseStaticKey = readKey(env, "PETSEM_NOISE_KEY", readFile);
  if (opts.requireNoiseKey && noiseStaticKey === null) {
    throw configError("PETSEM_NOISE_KEY or PETSEM_NOISE_KEY_FILE is required to serve");
  }
  const tkdbSharedKey = readKey(env, "PETSEM_TKDB_SHARED_KEY", readFile);
  const tkdbFeed = parseTkdbFeed(env, readFile);
  if (opts.requireNoiseKey && tkdbSharedKey !== null && tkdbFeed === null) {
    throw configError(
      "PETSEM_TKDB_URL and PETSEM_TKDB_PUBLIC_KEY are required to serve with PETSEM_TKDB_SHARED_KEY: " +
        "resolve follows tkdb's revocation feed",
    );
  }

  const backendRaw = env.PETSEM_CRYPTO_BACKEND ?? "native";
  if (backendRaw !== "native" && backendRaw !== "noble") {
    throw configError("PETSEM_CRYPTO_BACKEND must be native or noble");
  }
  return {
    host,
    port,
    dataDir,
    kek,
    noiseStaticKey,
    tkdbSharedKey,
    tkdbLocation: parseUrl(env, "PETSEM_TKDB_LOCATION", DEFAULT_TKDB_LOCATION),
    location: parseUrl(env, "PETSEM_LOCATION", DEFAULT_PETSEM_LOCATION),
    backend: backendRaw,
    litestream: parseLitestream(env),
    tkdbFeed,
  };
}
