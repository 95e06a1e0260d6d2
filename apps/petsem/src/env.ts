/**
 * The one reader of process.env (STYLE.md habit 15) and petsem's one configuration spec, on
 * @tkdb/service's defineConfig/parseConfig: one set of key encodings (64 hex, base64 or
 * base64url; the all-zero key refused), VAR or VAR_FILE for every key, errors that name the
 * variable and never its value. `loadConfig` adds the rules that join variables (below) and
 * throws one ConfigError (code `config`) listing every problem.
 *
 * Production rule (security issue 12, item 7): `serve` with PETSEM_TKDB_SHARED_KEY (that is, a
 * petsem that can resolve) refuses to start without PETSEM_TKDB_URL and PETSEM_TKDB_PUBLIC_KEY: a
 * discharge for a user token that tkdb has since revoked must stop working at the feed's poll
 * interval, not at the discharge's expiry. Without a shared key petsem can neither mint reader
 * tokens nor resolve, so it needs no feed. There is no switch to run `resolve` without the feed.
 *
 * The variables' table for the README is `envMarkdownTable(petsemEnv)`; `petsem --help` lists them.
 */
import { isAbsolute, join, resolve } from "node:path";
import {
  ConfigError,
  type ConfigFs,
  type ConfigProblem,
  defineConfig,
  duration,
  type Env,
  host,
  KindError,
  key32,
  key32List,
  list,
  oneOf,
  otelEnv,
  otelVariables,
  parseConfig,
  port,
  string,
  url,
  urlParser,
  type Var,
} from "@tkdb/service";
import type { BackendName } from "./crypto.js";
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
/** Litestream reads Go durations; petsem passes this text through, so it accepts one form only. */
const GO_DURATION_RE = /^[1-9]\d{0,6}(ms|s|m|h)$/;

export interface PetsemConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly kek: Uint8Array;
  /** PETSEM_KEK_NEXT: set on every node before `petsem kek rotate` (infra/KEYS.md) */
  readonly kekNext: Uint8Array | null;
  /** PETSEM_KEK_RETIRED: open only, kept for the backup window */
  readonly kekRetired: readonly Uint8Array[];
  readonly noiseStaticKey: Uint8Array | null;
  readonly tkdbSharedKey: Uint8Array | null;
  readonly tkdbLocation: string;
  readonly location: string;
  readonly backend: BackendName;
  /** null when PETSEM_LITESTREAM_REPLICA is unset: no backup runs */
  readonly litestream: LitestreamConfig | null;
  /** null when PETSEM_TKDB_URL is unset (allowed only where petsem cannot resolve, see above) */
  readonly tkdbFeed: TkdbFeedConfig | null;
  /** Prometheus GET /metrics listener address (PETSEM_METRICS_HOST, default 127.0.0.1) */
  readonly metricsHost?: string;
  /** its port; null when PETSEM_METRICS_PORT is unset (no metrics listener) */
  readonly metricsPort?: number | null;
  /** the OTEL_* variables by name (otelEnv), for tracing; without an endpoint tracing is off */
  readonly otel?: Env;
  /** the audit log's folder (PETSEM_AUDIT_DIR, default `<data dir>/audit`; the CLI's is `<it>/cli`) */
  readonly auditDir?: string;
  /** this node's name in the audit log (PETSEM_AUDIT_NODE, else FLY_MACHINE_ID, else "petsem") */
  readonly auditNode?: string;
}

/** An audit node name: leaves room for the CLI's `-cli` suffix within @tkdb/audit's 64. */
const AUDIT_NODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$/;

export type EnvSource = Env;

/** The process environment, for the entry points (src/cli.ts, bin/petsem.mjs) to hand on. */
export function processEnv(): EnvSource {
  return process.env;
}

/** Validates a Litestream replica URL: `file://` with an absolute path, or `s3://bucket[/path]`. */
export function parseReplicaUrl(v: string, name = "PETSEM_LITESTREAM_REPLICA"): string {
  const problem = replicaProblem(v);
  if (problem !== undefined) throw new PetsemError("config", `${name} ${problem}`);
  return v;
}

/** What is wrong with a replica URL (never quoting it), or undefined. */
function replicaProblem(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return "must be a file:// or s3:// URL";
  }
  if (u.protocol === "file:") {
    const bad = u.host !== "" || !u.pathname.startsWith("/") || u.pathname === "/" || u.search !== "";
    return bad || u.hash !== "" ? "must be file:///absolute/path" : undefined;
  }
  if (u.protocol === "s3:") {
    return u.host === "" || u.username !== "" || u.password !== ""
      ? "must be s3://bucket/path (credentials go in LITESTREAM_ACCESS_KEY_ID/SECRET)"
      : undefined;
  }
  return "must be a file:// or s3:// URL";
}

/** A `string` variable with its own parser (the library's kinds do not know replica URLs). */
function withParser(
  v: Var<string, true>,
  kind: string,
  check: (t: string) => string | undefined,
): Var<string, true> {
  return {
    ...v,
    kind,
    parse: (text) => {
      const t = text.trim();
      const problem = check(t);
      if (problem !== undefined) throw new KindError(problem);
      return t;
    },
  };
}

/** Every variable petsem reads. Names are stable (scripts, infra and tests set them). */
export const petsemEnv = defineConfig({
  host: host("PETSEM_HOST", { default: "127.0.0.1", doc: "listen address" }),
  port: port("PETSEM_PORT", { default: DEFAULT_PORT, doc: "listen port (0: any free port)" }),
  dataDir: string("PETSEM_DATA_DIR", { default: "./data/petsem", doc: "folder holding petsem.db" }),
  kek: key32("PETSEM_KEK", {
    required: true,
    doc: "key-encryption key (petsem refuses to start without it)",
  }),
  kekNext: key32("PETSEM_KEK_NEXT", {
    doc: "the next key-encryption key: set on every node before `petsem kek rotate`; promoted to PETSEM_KEK after it",
  }),
  kekRetired: key32List("PETSEM_KEK_RETIRED", {
    doc: "retired key-encryption keys (comma or space separated), open only: kept while backups sealed under them exist",
  }),
  noiseKey: key32("PETSEM_NOISE_KEY", { doc: "Noise static X25519 private key (required by serve)" }),
  tkdbSharedKey: key32("PETSEM_TKDB_SHARED_KEY", {
    doc: "key shared with tkdb for the reader token's third-party caveat (reader tokens, resolve)",
  }),
  tkdbLocation: url("PETSEM_TKDB_LOCATION", {
    default: DEFAULT_TKDB_LOCATION,
    doc: "tkdb's location (the third-party caveat's location)",
  }),
  location: url("PETSEM_LOCATION", { default: DEFAULT_PETSEM_LOCATION, doc: "petsem's token location" }),
  backend: oneOf("PETSEM_CRYPTO_BACKEND", {
    values: ["native", "noble"],
    default: "native",
    doc: "crypto backend: node:crypto or @noble",
  }),
  replica: withParser(
    string("PETSEM_LITESTREAM_REPLICA", { doc: "Litestream replica (unset: no backup runs)" }),
    "file:///abs/path or s3://bucket/path",
    replicaProblem,
  ),
  syncInterval: string("PETSEM_LITESTREAM_SYNC_INTERVAL", {
    default: DEFAULT_SYNC_INTERVAL,
    pattern: GO_DURATION_RE,
    patternText: "a duration like 500ms, 1s, 1m",
    doc: "how often Litestream ships WAL frames",
  }),
  tkdbUrls: list("PETSEM_TKDB_URL", {
    item: urlParser(["http:", "https:"]),
    itemKind: "URL",
    min: 1,
    max: 16,
    doc: "tkdb's verification API for its revocation feed, nearest first (required to serve with a tkdb shared key)",
  }),
  tkdbPublicKey: key32("PETSEM_TKDB_PUBLIC_KEY", {
    secret: false,
    doc: "tkdb's Noise static public key (required with PETSEM_TKDB_URL)",
  }),
  feedPollMs: duration("PETSEM_TKDB_FEED_POLL_MS", {
    default: DEFAULT_FEED_POLL_MS,
    min: 100,
    max: 60_000,
    bareUnit: "ms",
    doc: "how often tkdb's revocation feed is polled",
  }),
  feedFailClosedMs: duration("PETSEM_TKDB_FEED_FAIL_CLOSED_MS", {
    min: 1,
    max: MAX_FEED_FAIL_CLOSED_MS,
    bareUnit: "ms",
    doc: "feed silence after which resolve is refused with `unavailable` (default: 30s, or twice the poll)",
  }),
  metricsHost: host("PETSEM_METRICS_HOST", {
    default: "127.0.0.1",
    doc: "metrics listener address (unauthenticated: keep it on loopback or a private network)",
  }),
  metricsPort: port("PETSEM_METRICS_PORT", {
    doc: "Prometheus GET /metrics on its own listener (unset: off; 0: any free port)",
  }),
  auditDir: string("PETSEM_AUDIT_DIR", {
    doc: "the append-only audit log's folder (default: <PETSEM_DATA_DIR>/audit; outside the LiteFS mount)",
  }),
  auditNode: string("PETSEM_AUDIT_NODE", {
    pattern: AUDIT_NODE_RE,
    patternText: "letters, digits, '.', '_' or '-', at most 60",
    doc: "this node's name in the audit log (default: FLY_MACHINE_ID, else petsem)",
  }),
  flyMachineId: string("FLY_MACHINE_ID", { doc: "set by Fly: the default audit node name" }),
  ...otelEnv,
});

/** A secret text from VAR or VAR_FILE (a token): never shown, a VAR_FILE others can read is flagged. */
function secretText(name: string, doc: string): Var<string, true> {
  return { ...string(name, { doc }), kind: "token", file: true, secret: true };
}

/**
 * The CLI's online commands (`secrets …`, `boot`): where the running petsem is and which tokens
 * to present. Read only by those commands (src/cli/online.ts); serve never reads them.
 */
export const petsemClientEnv = defineConfig({
  url: url("PETSEM_URL", {
    default: `http://127.0.0.1:${DEFAULT_PORT}`,
    doc: "the running petsem (online commands)",
  }),
  publicKey: key32("PETSEM_PUBLIC_KEY", {
    secret: false,
    doc: "the running petsem's Noise public key (printed by `petsem serve` and `petsem keygen`)",
  }),
  writerToken: secretText(
    "PETSEM_WRITER_TOKEN",
    "writer token for `secrets …` (`petsem token mint --writer`)",
  ),
  readerToken: secretText(
    "PETSEM_READER_TOKEN",
    "flyd's reader token for `boot` (`petsem token mint --reader`)",
  ),
});

export interface LoadOptions {
  /**
   * `serve`: the Noise static key is required, and so is tkdb's revocation feed whenever a tkdb
   * shared key makes resolve possible. Other commands (e.g. `token mint`) need neither.
   */
  readonly requireNoiseKey?: boolean;
  /** Key files are read through this (tests). */
  readonly fs?: ConfigFs;
  /** Deprecated names, loose key-file permissions, unknown PETSEM_ variables. */
  readonly onWarning?: (warning: string) => void;
}

/** The feed settings, or null; pushes what is wrong with them to `problems`. */
function tkdbFeed(
  v: ReturnType<typeof parseConfig<typeof petsemEnv>>["values"],
  problems: ConfigProblem[],
): TkdbFeedConfig | null {
  if (v.tkdbUrls === undefined) {
    if (v.tkdbPublicKey !== undefined)
      problems.push({ variable: "PETSEM_TKDB_PUBLIC_KEY", problem: "is set without PETSEM_TKDB_URL" });
    return null;
  }
  if (v.tkdbPublicKey === undefined) {
    problems.push({
      variable: "PETSEM_TKDB_PUBLIC_KEY",
      problem: "(tkdb's Noise public key) is required with PETSEM_TKDB_URL",
    });
    return null;
  }
  const failClosedAfterMs = v.feedFailClosedMs ?? Math.max(DEFAULT_FEED_FAIL_CLOSED_MS, v.feedPollMs * 2);
  if (failClosedAfterMs <= v.feedPollMs)
    problems.push({
      variable: "PETSEM_TKDB_FEED_FAIL_CLOSED_MS",
      problem: "must be longer than PETSEM_TKDB_FEED_POLL_MS",
    });
  return {
    urls: v.tkdbUrls as string[],
    publicKey: v.tkdbPublicKey,
    pollIntervalMs: v.feedPollMs,
    failClosedAfterMs,
  };
}

export function loadConfig(env: EnvSource = processEnv(), opts: LoadOptions = {}): PetsemConfig {
  const { values: v, warnings } = parseConfig(petsemEnv, env, {
    prefixes: ["PETSEM_"],
    alsoKnown: [petsemClientEnv],
    ...(opts.fs === undefined ? {} : { fs: opts.fs }),
  });
  for (const w of warnings) opts.onWarning?.(w);
  const problems: ConfigProblem[] = [];
  if (opts.requireNoiseKey && v.noiseKey === undefined)
    problems.push({
      variable: "PETSEM_NOISE_KEY",
      problem: "is required to serve (or PETSEM_NOISE_KEY_FILE)",
    });
  const feed = tkdbFeed(v, problems);
  if (opts.requireNoiseKey && v.tkdbSharedKey !== undefined && v.tkdbUrls === undefined)
    problems.push({
      variable: "PETSEM_TKDB_URL",
      problem:
        "is required (with PETSEM_TKDB_PUBLIC_KEY) to serve with PETSEM_TKDB_SHARED_KEY: resolve follows tkdb's revocation feed",
    });
  if (problems.length > 0)
    throw new ConfigError(problems, {
      hint: "run with --help to see every variable, its format and default",
    });
  return {
    host: v.host,
    port: v.port,
    dataDir: isAbsolute(v.dataDir) ? v.dataDir : resolve(v.dataDir),
    kek: v.kek,
    kekNext: v.kekNext ?? null,
    kekRetired: v.kekRetired,
    noiseStaticKey: v.noiseKey ?? null,
    tkdbSharedKey: v.tkdbSharedKey ?? null,
    tkdbLocation: v.tkdbLocation,
    location: v.location,
    backend: v.backend,
    litestream: v.replica === undefined ? null : { replica: v.replica, syncInterval: v.syncInterval },
    tkdbFeed: feed,
    metricsHost: v.metricsHost,
    metricsPort: v.metricsPort ?? null,
    otel: otelVariables(v),
    auditDir: resolve(v.auditDir ?? join(v.dataDir, "audit")),
    auditNode:
      v.auditNode ??
      (v.flyMachineId !== undefined && AUDIT_NODE_RE.test(v.flyMachineId) ? v.flyMachineId : "petsem"),
  };
}
