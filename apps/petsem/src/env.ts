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

export interface LoadOptions {
  /** Keys that are optional for the command at hand (e.g. `token mint` needs no Noise key). */
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
  };
}
