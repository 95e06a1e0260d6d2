/**
 * The only reader of the environment in tkdb (the entry points pass process.env in): every
 * variable is declared once here with @tkdb/service's defineConfig, so the server, the CLI, its
 * --help "Environment" sections and the README table agree. Keys: 64 hex digits, base64 or
 * base64url (canonical, never all zero), from VAR or VAR_FILE. Errors are one ConfigError naming
 * each variable and what is wrong, never the value.
 *
 * | Variable | Meaning | Default |
 * |---|---|---|
 * | TKDB_HOST / TKDB_PORT | listen address (port 0: any free port) | 127.0.0.1 / 7401 |
 * | TKDB_METRICS_HOST / TKDB_METRICS_PORT | Prometheus GET /metrics on its own listener (port unset: off) | 127.0.0.1 / — |
 * | OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SDK_DISABLED, other OTEL_* (otelEnv) | tracing: on only with an endpoint and OTEL_SDK_DISABLED not true | off |
 * | TKDB_DATA_DIR | folder of tkdb.db | ./data/tkdb |
 * | TKDB_NOISE_KEY or TKDB_NOISE_KEY_FILE | X25519 static private key | required (serve) |
 * | TKDB_KEK or TKDB_KEK_FILE | key-encryption key for root keys | required |
 * | TKDB_KEK_NEXT or TKDB_KEK_NEXT_FILE | the next KEK: set on every node before `tkdb kek rotate` (opens; seals once rotated) | — |
 * | TKDB_KEK_RETIRED or TKDB_KEK_RETIRED_FILE | retired KEKs (comma/space list), open only, kept for the backup window | — |
 * | TKDB_SIGN_CLIENTS | comma list of signing clients `<public key>:<op>+<op>…` (ops among org_create, mint, revoke, strip); a bare key (the old form) may call every op, with a warning at start | empty |
 * | TKDB_TP_KEYS (or _FILE) | comma list of `location=key` shared with third parties: the auth service (at TKDB_AUTH_LOCATION) and petsem (at TKDB_LOCATION) | empty |
 * | TKDB_LOCATION | permission-token location (and tkdb's own 3P location) | https://api.fly.io/v1 |
 * | TKDB_AUTH_LOCATION | location of the auth service's 3P caveat (stripped by `strip`) | https://api.fly.io/aaa/v1 |
 * | TKDB_DISCHARGE_TTL | lifetime of a discharge from `discharge`: 60, 60s, 2m (1 s..5 m, whole seconds) | 60s |
 * | TKDB_LITEFS_DIR | LiteFS mount (its `.primary` file marks a replica) | — |
 * | TKDB_AUDIT_DIR | this node's append-only audit log (on Fly: on the volume, outside the LiteFS mount); local admin commands write `<dir>/cli` | <data dir>/audit |
 * | TKDB_AUDIT_NODE | the node's name in its audit events | FLY_MACHINE_ID, else the host name |
 * | TKDB_LITESTREAM_CONFIG | litestream.yml; when set, `serve` runs Litestream replicate | — |
 * | TKDB_REPLICA | read-only replica: opens the database read-only, refuses mutations (`not_primary`) | false |
 * | TKDB_STALE_AFTER_MS | a replica whose last primary heartbeat is older answers `stale` (bare number: ms) | 10s |
 * | TKDB_HEARTBEAT_MS | how often the primary writes its heartbeat (bare number: ms) | 1s |
 * | TKDB_URL, TKDB_SERVER_PUBLIC_KEY, TKDB_CLIENT_KEY(_FILE) | the CLI's online commands | http://127.0.0.1:7401 |
 */
import { dirname, join } from "node:path";
import {
  bool,
  type ConfigOf,
  type ConfigSpec,
  defineConfig,
  duration,
  type Env,
  host,
  KindError,
  key32,
  key32List,
  type LogStream,
  locationKeys,
  otelEnv,
  otelVariables,
  parseConfig,
  parseKey32,
  port,
  string,
  url,
  type Var,
} from "@tkdb/service";
import { ConfigError } from "./errors.js";

export type { Env };

export const DEFAULT_LOCATION = "https://api.fly.io/v1";
export const AUTH_LOCATION = "https://api.fly.io/aaa/v1";
export const DEFAULT_PORT = 7401;
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
  | "dbPath"
  | "auditDir"
  | "auditNode"
  | "kek"
  | "kekNext"
  | "kekRetired"
  | "location"
  | "authLocation"
  | "dischargeTtl"
  | "thirdPartyKeys"
  | "litefsDir"
>;

export interface TkdbConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  metricsPort?: number;
  /** Address of the metrics listener (default 127.0.0.1). */
  metricsHost?: string;
  /** The OTEL_* variables (otelEnv) for tracing; absent or without an endpoint: tracing off. */
  otel?: Env;
  dbPath: string;
  /** TKDB_AUDIT_DIR: this node's audit log (default: `audit` beside the database). */
  auditDir?: string;
  /** TKDB_AUDIT_NODE (else FLY_MACHINE_ID, else the host name): the node's name in its events. */
  auditNode?: string;
  noiseSecretKey: Uint8Array;
  kek: Uint8Array;
  /** TKDB_KEK_NEXT: opens, and seals once `tkdb kek rotate` has moved the database onto it. */
  kekNext?: Uint8Array | undefined;
  /** TKDB_KEK_RETIRED: open only (restores of backups made before a rotation). */
  kekRetired?: Uint8Array[] | undefined;
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
  /** TKDB_REPLICA: a read-only replica of the primary's database (see replication.ts). */
  replica?: boolean;
  /** TKDB_STALE_AFTER_MS: past this heartbeat age a replica answers `stale` (default 10 s). */
  staleAfterMs?: number;
  /** TKDB_HEARTBEAT_MS: the primary's heartbeat interval (default 1 s). */
  heartbeatMs?: number;
  /** Where the JSON-lines log goes (@tkdb/service createLogger); default: stderr. */
  log?: LogStream;
}

export const dataDir = string("TKDB_DATA_DIR", { default: "./data/tkdb", doc: "folder of tkdb.db" });
const litefsDir = string("TKDB_LITEFS_DIR", { doc: "LiteFS mount (its .primary file marks a replica)" });
const litestreamConfig = string("TKDB_LITESTREAM_CONFIG", {
  doc: "litestream.yml: serve runs Litestream replicate; backup restore reads it",
});

/** The discharge lifetime in whole seconds (the variable takes any duration: 60, 60s, 2m). */
const ttlMs = duration("TKDB_DISCHARGE_TTL", {
  default: DEFAULT_DISCHARGE_TTL * 1000,
  min: 1000,
  max: MAX_DISCHARGE_TTL * 1000,
  doc: `lifetime of a discharge issued by discharge (1s..${MAX_DISCHARGE_TTL}s, whole seconds)`,
});
const dischargeTtl: Var<number, false> = {
  ...ttlMs,
  default: DEFAULT_DISCHARGE_TTL,
  parse: (text) => {
    const ms = ttlMs.parse(text);
    if (ms % 1000 !== 0) throw new KindError("must be a whole number of seconds");
    return ms / 1000;
  },
};

/**
 * TKDB_SIGN_CLIENTS: comma list of `<key>[:<op>+<op>…]`. `:` and `+` never occur in hex or
 * base64url keys. An empty op list, an unknown op or a key listed twice is refused (KindError,
 * naming the item, never the key).
 */
export function parseSignClients(value: string): SignClient[] {
  const seen = new Set<string>();
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((entry, i) => {
      const colon = entry.indexOf(":");
      let publicKey: Uint8Array;
      try {
        publicKey = parseKey32(colon < 0 ? entry : entry.slice(0, colon));
      } catch (e) {
        throw e instanceof KindError ? new KindError(`item ${i}: the key ${e.message}`) : e;
      }
      const id = Buffer.from(publicKey).toString("hex");
      if (seen.has(id)) throw new KindError(`item ${i}: key listed twice`);
      seen.add(id);
      if (colon < 0) return { publicKey };
      const ops = entry
        .slice(colon + 1)
        .split("+")
        .map((o) => o.trim());
      if (ops.length === 0 || ops.some((o) => !(SIGN_OPS as readonly string[]).includes(o)))
        throw new KindError(
          `item ${i}: ops must be a + list of ${SIGN_OPS.join(", ")} (e.g. key:mint+revoke)`,
        );
      return { publicKey, ops: [...new Set(ops)] as SignOp[] };
    });
}

const signClients: Var<SignClient[], false> = {
  ...string("TKDB_SIGN_CLIENTS", { doc: "" }),
  kind: "list of key:op+op",
  doc: `signing clients: <public key>:<op>+<op>,… (ops: ${SIGN_OPS.join(", ")}); a bare key may call every op (warned at start)`,
  default: [],
  defaultText: "none",
  parse: parseSignClients,
  __optional: false,
};

/**
 * The KEKs besides TKDB_KEK (infra/KEYS.md, "KEK rotation"): the next one, set on every node
 * before `tkdb kek rotate`, and the retired ones, open only, kept for the backup window.
 */
export const kekNext = key32("TKDB_KEK_NEXT", {
  doc: "the next KEK: set on every node before `tkdb kek rotate`; promoted to TKDB_KEK after it",
});
export const kekRetired = key32List("TKDB_KEK_RETIRED", {
  doc: "retired KEKs (comma or space separated), open only: kept while backups sealed under them exist",
});

/** Where the database is: every command that opens it. */
const auditDir = string("TKDB_AUDIT_DIR", {
  doc: "this node's append-only audit log (default <data dir>/audit; on Fly outside the LiteFS mount)",
});
const auditNode = string("TKDB_AUDIT_NODE", {
  doc: "the node's name in its audit events (default FLY_MACHINE_ID)",
});
const flyMachineId = string("FLY_MACHINE_ID", { doc: "set by Fly: the default audit node name" });

/** Where the database and the audit log are: every command that opens either. */
export const storeEnv = defineConfig({ dataDir, litefsDir, auditDir });

/** The token service: serve and the local admin commands. */
export const serviceEnv = defineConfig({
  dataDir,
  litefsDir,
  auditDir,
  auditNode,
  flyMachineId,
  kek: key32("TKDB_KEK", { required: true, doc: "key-encryption key for the org root keys" }),
  kekNext,
  kekRetired,
  location: url("TKDB_LOCATION", {
    default: DEFAULT_LOCATION,
    doc: "permission-token location (and tkdb's 3P location)",
  }),
  authLocation: url("TKDB_AUTH_LOCATION", { default: AUTH_LOCATION, doc: "the auth service's 3P location" }),
  thirdPartyKeys: locationKeys("TKDB_TP_KEYS", {
    default: new Map(),
    doc: "keys shared with third parties, location=key,… (the auth service and petsem)",
  }),
  dischargeTtl,
});

/** `serve`: the service plus its listener, Noise key, signing clients and Litestream. */
export const serveEnv = defineConfig({
  ...serviceEnv,
  host: host("TKDB_HOST", { default: "127.0.0.1", doc: "listen address" }),
  port: port("TKDB_PORT", { default: DEFAULT_PORT, doc: "listen port (0: any free port)" }),
  metricsHost: host("TKDB_METRICS_HOST", {
    default: "127.0.0.1",
    doc: "metrics listener address (unauthenticated: keep it on loopback or a private network)",
  }),
  metricsPort: port("TKDB_METRICS_PORT", { doc: "Prometheus GET /metrics on its own listener (unset: off)" }),
  noiseKey: key32("TKDB_NOISE_KEY", { required: true, doc: "X25519 static private key of the Noise server" }),
  signClients,
  litestreamConfig,
  replica: bool("TKDB_REPLICA", {
    default: false,
    doc: "read-only replica: opens the database read-only and refuses mutations with not_primary",
  }),
  staleAfterMs: duration("TKDB_STALE_AFTER_MS", {
    default: 10_000,
    min: 1_000,
    max: 600_000,
    bareUnit: "ms",
    doc: "a replica whose last primary heartbeat is older than this answers stale",
  }),
  heartbeatMs: duration("TKDB_HEARTBEAT_MS", {
    default: 1_000,
    min: 100,
    max: 60_000,
    bareUnit: "ms",
    doc: "how often the primary writes its heartbeat (keep it well under TKDB_STALE_AFTER_MS)",
  }),
  ...otelEnv,
});

/** `backup restore`. */
export const backupEnv = defineConfig({ dataDir, litestreamConfig });

/** The CLI's online commands (token verify, token strip). */
export const clientEnv = defineConfig({
  url: url("TKDB_URL", { default: `http://127.0.0.1:${DEFAULT_PORT}`, doc: "the tkdb server" }),
  serverPublicKey: key32("TKDB_SERVER_PUBLIC_KEY", { secret: false, doc: "the server's Noise public key" }),
  clientKey: key32("TKDB_CLIENT_KEY", { doc: "signing-client static private key (token strip)" }),
});

/** Every variable tkdb reads (for the unknown-variable warning). */
export const ALL_ENV: readonly ConfigSpec[] = [serveEnv, backupEnv, clientEnv];

/** The process environment, for the entry points (src/cli.ts, bin/tkdb.mjs) to pass in. */
export function processEnv(): Env {
  return process.env;
}

function parse<S extends ConfigSpec>(spec: S, env: Env, warn?: (w: string) => void): ConfigOf<S> {
  const { values, warnings } = parseConfig(spec, env, { prefixes: ["TKDB_"], alsoKnown: ALL_ENV });
  for (const w of warnings) warn?.(w);
  return values;
}

/** The audit log's folder: TKDB_AUDIT_DIR, else `audit` beside the database. */
export function auditDirOf(c: { readonly dbPath: string; readonly auditDir?: string | undefined }): string {
  return c.auditDir ?? join(dirname(c.dbPath), "audit");
}

export function dbPathOf(values: { readonly dataDir: string }): string {
  return join(values.dataDir, "tkdb.db");
}

export function serviceConfigFrom(v: ConfigOf<typeof serviceEnv>): ServiceConfig {
  const cfg: ServiceConfig = {
    dbPath: dbPathOf(v),
    kek: v.kek,
    kekNext: v.kekNext,
    kekRetired: v.kekRetired,
    location: v.location,
    authLocation: v.authLocation,
    dischargeTtl: v.dischargeTtl,
    thirdPartyKeys: v.thirdPartyKeys,
  };
  if (v.litefsDir !== undefined) cfg.litefsDir = v.litefsDir;
  cfg.auditDir = auditDirOf({ dbPath: cfg.dbPath, auditDir: v.auditDir });
  const node = v.auditNode ?? v.flyMachineId;
  if (node !== undefined) cfg.auditNode = node;
  return cfg;
}

export function tkdbConfigFrom(v: ConfigOf<typeof serveEnv>): TkdbConfig {
  const cfg: TkdbConfig = {
    ...serviceConfigFrom(v),
    host: v.host,
    port: v.port,
    noiseSecretKey: v.noiseKey,
    signClients: v.signClients,
  };
  if (v.metricsPort !== undefined) cfg.metricsPort = v.metricsPort;
  cfg.metricsHost = v.metricsHost;
  cfg.otel = otelVariables(v);
  if (v.litestreamConfig !== undefined) cfg.litestreamConfig = v.litestreamConfig;
  cfg.replica = v.replica;
  cfg.staleAfterMs = v.staleAfterMs;
  cfg.heartbeatMs = v.heartbeatMs;
  return cfg;
}

/** KEK, data folder, locations, third-party keys: for the local admin commands. */
export function loadServiceConfig(env: Env, warn?: (w: string) => void): ServiceConfig {
  return serviceConfigFrom(parse(serviceEnv, env, warn));
}

/** Everything `serve` needs. */
export function loadConfig(env: Env, warn?: (w: string) => void): TkdbConfig {
  return tkdbConfigFrom(parse(serveEnv, env, warn));
}

export function validDischargeTtl(ttl: number): boolean {
  return Number.isInteger(ttl) && ttl >= 1 && ttl <= MAX_DISCHARGE_TTL;
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
