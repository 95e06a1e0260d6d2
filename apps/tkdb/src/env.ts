/**
 * The only reader of process.env in tkdb. Parses the environment into a typed TkdbConfig or a
 * ConfigError naming the variable (never echoing its value).
 *
 * | Variable | Meaning | Default |
 * |---|---|---|
 * | TKDB_HOST / TKDB_PORT | listen address (port 0: any free port) | 127.0.0.1 / 0 |
 * | TKDB_METRICS_PORT | Prometheus exposition on 127.0.0.1 (unset: off) | — |
 * | TKDB_DATA_DIR | folder of tkdb.db | ./data/tkdb |
 * | TKDB_NOISE_KEY or TKDB_NOISE_KEY_FILE | X25519 static private key, 32 bytes hex or base64url | required |
 * | TKDB_KEK or TKDB_KEK_FILE | key-encryption key for root keys, 32 bytes hex or base64url | required |
 * | TKDB_SIGN_CLIENTS | comma list of signing clients `<public key>:<op>+<op>…` (key base64url or hex; ops among org_create, mint, revoke, strip); a bare key (the old form) may call every op, with a warning at start | empty |
 * | TKDB_TP_KEYS | comma list of `location=key` (key: 32 bytes base64, base64url or hex) shared with third parties: the auth service (at TKDB_AUTH_LOCATION) and petsem (at TKDB_LOCATION, the 3P location petsem's reader tokens name) | empty |
 * | TKDB_LOCATION | permission-token location (and tkdb's own 3P location) | https://api.fly.io/v1 |
 * | TKDB_AUTH_LOCATION | location of the auth service's 3P caveat (stripped by `strip`) | https://api.fly.io/aaa/v1 |
 * | TKDB_DISCHARGE_TTL | seconds a discharge issued by `discharge` stays valid (1..300) | 60 |
 * | TKDB_LITEFS_DIR | LiteFS mount (its `.primary` file marks a replica) | — |
 * | TKDB_LITESTREAM_CONFIG | litestream.yml; when set, `serve` runs Litestream replicate | — |
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "./errors.js";

export const DEFAULT_LOCATION = "https://api.fly.io/v1";
export const AUTH_LOCATION = "https://api.fly.io/aaa/v1";
export const DEFAULT_DISCHARGE_TTL = 60;
/** A discharge never lives longer than this (petsem refuses longer windows too). */
export const MAX_DISCHARGE_TTL = 300;

/** The signing API's ops; each listed client key names the ones it may call. */
export const SIGN_OPS = ["org_create", "mint", "revoke", "strip"] as const;
export type SignOp = (typeof SIGN_OPS)[number];

/**
 * One signing client: its Noise static public key and the ops it may call. `ops` undefined is the
 * old bare-key form: every op (kept so existing deployments keep working; logged as a warning at
 * every start until the entry names its ops).
 */
export interface SignClient {
  publicKey: Uint8Array;
  ops?: readonly SignOp[];
}

/** What the token service and the local admin commands need (no listener, no Noise key). */
export type ServiceConfig = Pick<
  TkdbConfig,
  "dbPath" | "kek" | "location" | "authLocation" | "dischargeTtl" | "thirdPartyKeys" | "litefsDir"
>;

export interface TkdbConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  metricsPort?: number;
  dbPath: string;
  noiseSecretKey: Uint8Array;
  kek: Uint8Array;
  /** Signing clients; a bare key is the old form (every op, with a warning at start). */
  signClients: (SignClient | Uint8Array)[];
  /** Permission-token location (also the location of discharges tkdb issues). */
  location: string;
  authLocation: string;
  /** Lifetime of issued discharges, in seconds (1..300; startTkdb refuses more). */
  dischargeTtl: number;
  /** Keys shared with third parties, by location (auth service; petsem under `location`). */
  thirdPartyKeys: Map<string, Uint8Array>;
  litefsDir?: string;
  litestreamConfig?: string;
  /** Structured log sink; default: JSON lines on stderr. */
  log?: (line: Record<string, unknown>) => void;
}

type Env = Record<string, string | undefined>;

export function parseKey32(value: string, name: string): Uint8Array {
  const v = value.trim();
  let bytes: Uint8Array | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(v)) bytes = new Uint8Array(Buffer.from(v, "hex"));
  else if (/^[A-Za-z0-9_-]{43}=?$/.test(v)) bytes = new Uint8Array(Buffer.from(v, "base64url"));
  else if (/^[A-Za-z0-9+/]{43}=$/.test(v)) bytes = new Uint8Array(Buffer.from(v, "base64"));
  if (bytes === undefined || bytes.length !== 32) {
    throw new ConfigError(`${name} must be 32 bytes as 64 hex digits, base64 or base64url`);
  }
  return bytes;
}

/** A secret from VAR or VAR_FILE (exactly one of them). */
function secret(env: Env, name: string, required: boolean): Uint8Array | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && direct !== "" && file !== undefined && file !== "")
    throw new ConfigError(`set only one of ${name} and ${name}_FILE`);
  if (direct !== undefined && direct !== "") return parseKey32(direct, name);
  if (file !== undefined && file !== "") {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new ConfigError(`${name}_FILE: cannot read the file`);
    }
    return parseKey32(text, `${name}_FILE`);
  }
  if (required) throw new ConfigError(`${name} (or ${name}_FILE) is required`);
  return undefined;
}

function port(env: Env, name: string, dflt: number | undefined): number | undefined {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new ConfigError(`${name} must be a port number`);
  return Number(v);
}

function url(env: Env, name: string, dflt: string): string {
  const v = env[name] ?? dflt;
  try {
    new URL(v);
  } catch {
    throw new ConfigError(`${name} must be a URL`);
  }
  return v;
}

/** KEK, data folder, locations, third-party keys: for `serve` and the local admin commands. */
export function loadServiceConfig(env: Env = process.env): ServiceConfig {
  const dataDir = env.TKDB_DATA_DIR || "./data/tkdb";
  const kek = secret(env, "TKDB_KEK", true) as Uint8Array;
  const location = url(env, "TKDB_LOCATION", DEFAULT_LOCATION);
  const authLocation = url(env, "TKDB_AUTH_LOCATION", AUTH_LOCATION);
  const thirdPartyKeys = new Map<string, Uint8Array>();
  (env.TKDB_TP_KEYS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .forEach((entry, i) => {
      const eq = entry.lastIndexOf("=", entry.length - 2);
      const loc = eq > 0 ? entry.slice(0, eq) : "";
      try {
        new URL(loc);
      } catch {
        throw new ConfigError(`TKDB_TP_KEYS[${i}] must be location=key`);
      }
      thirdPartyKeys.set(loc, parseKey32(entry.slice(eq + 1), `TKDB_TP_KEYS[${i}]`));
    });
  const ttlRaw = env.TKDB_DISCHARGE_TTL;
  const ttlText = ttlRaw === undefined || ttlRaw === "" ? String(DEFAULT_DISCHARGE_TTL) : ttlRaw.trim();
  const dischargeTtl = Number(ttlText);
  if (!/^\d{1,6}$/.test(ttlText) || !validDischargeTtl(dischargeTtl))
    throw new ConfigError(`TKDB_DISCHARGE_TTL must be a whole number of seconds in 1..${MAX_DISCHARGE_TTL}`);
  const cfg: ServiceConfig = {
    dbPath: join(dataDir, "tkdb.db"),
    kek,
    location,
    authLocation,
    dischargeTtl,
    thirdPartyKeys,
  };
  if (env.TKDB_LITEFS_DIR) cfg.litefsDir = env.TKDB_LITEFS_DIR;
  return cfg;
}

export function loadConfig(env: Env = process.env): TkdbConfig {
  const host = env.TKDB_HOST || "127.0.0.1";
  const listen = port(env, "TKDB_PORT", 0) as number;
  const metricsPort = port(env, "TKDB_METRICS_PORT", undefined);
  const noiseSecretKey = secret(env, "TKDB_NOISE_KEY", true) as Uint8Array;
  const service = loadServiceConfig(env);
  const signClients = parseSignClients(env.TKDB_SIGN_CLIENTS ?? "");
  const cfg: TkdbConfig = { ...service, host, port: listen, noiseSecretKey, signClients };
  if (metricsPort !== undefined) cfg.metricsPort = metricsPort;
  if (env.TKDB_LITESTREAM_CONFIG) cfg.litestreamConfig = env.TKDB_LITESTREAM_CONFIG;
  return cfg;
}

export function validDischargeTtl(ttl: number): boolean {
  return Number.isInteger(ttl) && ttl >= 1 && ttl <= MAX_DISCHARGE_TTL;
}

/**
 * TKDB_SIGN_CLIENTS: comma list of `<key>[:<op>+<op>…]`. `:` and `+` never occur in hex or
 * base64url keys. An empty op list, an unknown op or a key listed twice is refused.
 */
export function parseSignClients(value: string): SignClient[] {
  const seen = new Set<string>();
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((entry, i) => {
      const colon = entry.indexOf(":");
      const keyText = colon < 0 ? entry : entry.slice(0, colon);
      const publicKey = parseKey32(keyText, `TKDB_SIGN_CLIENTS[${i}]`);
      const id = Buffer.from(publicKey).toString("hex");
      if (seen.has(id)) throw new ConfigError(`TKDB_SIGN_CLIENTS[${i}]: key listed twice`);
      seen.add(id);
      if (colon < 0) return { publicKey };
      const ops = entry
        .slice(colon + 1)
        .split("+")
        .map((o) => o.trim());
      if (ops.length === 0 || ops.some((o) => !(SIGN_OPS as readonly string[]).includes(o)))
        throw new ConfigError(
          `TKDB_SIGN_CLIENTS[${i}]: ops must be a + list of ${SIGN_OPS.join(", ")} (e.g. key:mint+revoke)`,
        );
      return { publicKey, ops: [...new Set(ops)] as SignOp[] };
    });
}

/** Normalizes the config's signing clients (bare keys: every op, `legacy`). */
export function signClientTable(
  clients: readonly (SignClient | Uint8Array)[],
): { publicKey: Uint8Array; ops: ReadonlySet<SignOp>; legacy: boolean }[] {
  return clients.map((c, i) => {
    const sc: SignClient = c instanceof Uint8Array ? { publicKey: c } : c;
    if (!(sc.publicKey instanceof Uint8Array) || sc.publicKey.length !== 32)
      throw new ConfigError(`signClients[${i}] must be a 32-byte public key`);
    if (sc.ops !== undefined && (sc.ops.length === 0 || sc.ops.some((o) => !SIGN_OPS.includes(o))))
      throw new ConfigError(`signClients[${i}].ops must name ops among ${SIGN_OPS.join(", ")}`);
    return { publicKey: sc.publicKey, ops: new Set(sc.ops ?? SIGN_OPS), legacy: sc.ops === undefined };
  });
}

/** Only the data folder, for CLI commands that need no keys (audit verify/export). */
export function dbPathFromEnv(env: Env = process.env): string {
  return join(env.TKDB_DATA_DIR || "./data/tkdb", "tkdb.db");
}

export interface CliClientConfig {
  url: string;
  serverPublicKey?: Uint8Array;
  /** Signing-client static private key (KK). */
  clientSecretKey?: Uint8Array;
}

/** CLI client settings: TKDB_URL, TKDB_SERVER_PUBLIC_KEY, TKDB_CLIENT_KEY(_FILE). */
export function loadCliClientConfig(env: Env = process.env): CliClientConfig {
  const out: CliClientConfig = { url: url(env, "TKDB_URL", "http://127.0.0.1:8440") };
  const spk = env.TKDB_SERVER_PUBLIC_KEY;
  if (spk) out.serverPublicKey = parseKey32(spk, "TKDB_SERVER_PUBLIC_KEY");
  const ck = secret(env, "TKDB_CLIENT_KEY", false);
  if (ck) out.clientSecretKey = ck;
  return out;
}

/** Where `serve` writes nothing but reads: the Litestream config, for `backup restore`. */
export function litestreamConfigFromEnv(env: Env = process.env): string | undefined {
  return env.TKDB_LITESTREAM_CONFIG || undefined;
}
