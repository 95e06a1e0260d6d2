/**
 * `startPetsem(config)`: opens the store (checking the KEK), derives the macaroon authority from
 * the KEK-sealed root key, opens the token blacklist, starts following tkdb's revocation feed, and
 * serves the HTTP/Noise RPC on `host:port` (127.0.0.1 by default).
 *
 * A petsem that can resolve (a tkdb shared key is configured) must follow tkdb's feed: without a
 * `tkdbFeed` (or, in tests only, `unsafeTestRevocationSource`) it refuses to start.
 */
import { dirname, join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import { TkdbClient } from "@tkdb/client";
import type { HttpLimits, KeyPair } from "@tkdb/noise";
import {
  type Env,
  type Listening,
  type ListenOptions,
  type LogFn,
  listen,
  logRpcEvent,
  type MetricsServer,
  type RpcEvent,
  resolveLimits,
  startMetricsServer,
} from "@tkdb/service";
import { petsemRoutes } from "./app.js";
import { PetsemAudit } from "./audit-log.js";
import { TokenBlacklist } from "./blacklist.js";
import { petsemCaveatKit } from "./caveat-kit.js";
import { type BackendName, noiseKeyPair } from "./crypto.js";
import {
  DEFAULT_FEED_FAIL_CLOSED_MS,
  DEFAULT_FEED_POLL_MS,
  DEFAULT_PETSEM_LOCATION,
  DEFAULT_TKDB_LOCATION,
  type LitestreamConfig,
  type TkdbFeedConfig,
} from "./env.js";
import { PetsemError } from "./errors.js";
import { type Replication, type ReplicationOptions, startReplication } from "./litestream.js";
import { FIRST_TOKEN_KEY, TokenKeys } from "./store/token-keys.js";
import { SecretStore } from "./store.js";
import { petsemTelemetry, shutdownTracing, type Tracing, type Watch, watchLitestream } from "./telemetry.js";
import { type RevocationSource, TkdbRevocationFeed } from "./tkdb-feed.js";
import { PetsemAuthority } from "./tokens.js";

export interface StartPetsemConfig {
  readonly host?: string;
  readonly port?: number;
  /** folder holding petsem.db (ignored when `file` is given) */
  readonly dataDir?: string;
  readonly file?: string;
  readonly kek: Uint8Array;
  /** PETSEM_KEK_NEXT and PETSEM_KEK_RETIRED (store/kek.ts) */
  readonly kekNext?: Uint8Array | null;
  readonly kekRetired?: readonly Uint8Array[];
  /** Noise static X25519 secret key */
  readonly noiseStaticKey?: Uint8Array | null;
  readonly tkdbSharedKey?: Uint8Array | null;
  readonly tkdbLocation?: string;
  readonly location?: string;
  readonly backend?: BackendName;
  readonly now?: () => number;
  /** continuous backup with Litestream; null/undefined = none */
  readonly litestream?: LitestreamConfig | null;
  /** Litestream's log lines (paths and positions only) */
  readonly onLitestreamLog?: ReplicationOptions["onLog"];
  /** HTTP timeouts and connection caps (defaults: @tkdb/noise DEFAULT_HTTP_LIMITS, 10 s timeouts) */
  readonly httpLimits?: Partial<HttpLimits>;
  /** tkdb's revocation feed; required to serve with a tkdb shared key (see env.ts) */
  readonly tkdbFeed?: TkdbFeedConfig | null;
  /**
   * Tests only: the feed's source instead of a TkdbClient for `tkdbFeed.urls` (timings from
   * `tkdbFeed` when given, else the defaults). Never set in production.
   */
  readonly unsafeTestRevocationSource?: RevocationSource;
  /** feed poll failures (a fixed message, no detail) */
  readonly onFeedError?: (message: string) => void;
  /** how long start waits for the first feed poll before serving anyway (resolve fails closed) */
  readonly feedStartWaitMs?: number;
  /** Prometheus GET /metrics listener address (default 127.0.0.1) */
  readonly metricsHost?: string;
  /** its port (0: any free port); null/undefined: no metrics listener */
  readonly metricsPort?: number | null;
  /** the OTEL_* variables (env.ts otelEnv): tracing is on only when they name an endpoint */
  readonly otel?: Env;
  /** tests: a Tracing of the caller's (not shut down by close) instead of one from `otel` */
  readonly tracing?: Tracing;
  /** a trace export or metrics scrape failed (fixed message, no detail) */
  readonly onTelemetryError?: (message: string) => void;
  /** the audit log's folder (default: `audit` beside the database) */
  readonly auditDir?: string;
  /** this node's name in the audit log (default "petsem") */
  readonly auditNode?: string;
  /** the JSON-lines log (@tkdb/service createLogger): one `rpc` line per call, failures, listening */
  readonly log?: LogFn;
}

export interface RunningPetsem {
  /** http://host:port */
  readonly url: string;
  /** the Noise static public key clients pin */
  readonly publicKey: Uint8Array;
  readonly store: SecretStore;
  readonly authority: PetsemAuthority;
  readonly blacklist: TokenBlacklist;
  /** tkdb's revocation feed, null when petsem has no tkdb shared key (it cannot resolve) */
  readonly feed: TkdbRevocationFeed | null;
  /** the running Litestream child, when a replica is configured */
  readonly replication: Replication | null;
  /** http://host:port/metrics, or null when no metrics port is configured */
  readonly metricsUrl: string | null;
  /** the audit log every op but health writes to (audit-log.ts) */
  readonly audit: PetsemAudit;
  /** closes the server, then stops Litestream (final sync), then closes the database */
  close(): Promise<void>;
}

/** The audit log's folder a config names: `auditDir`, else `audit` beside the database. */
export function petsemAuditDir(config: Pick<StartPetsemConfig, "file" | "dataDir" | "auditDir">): string {
  return config.auditDir ?? join(dirname(petsemDbFile(config)), "audit");
}

/** The database file a config names: `file`, else `<dataDir>/petsem.db`. */
export function petsemDbFile(config: Pick<StartPetsemConfig, "file" | "dataDir">): string {
  return config.file ?? join(config.dataDir ?? "./data/petsem", "petsem.db");
}

export interface OpenPetsem {
  readonly store: SecretStore;
  readonly authority: PetsemAuthority;
  readonly blacklist: TokenBlacklist;
  /** closes the blacklist, then the store */
  close(): void;
}

/**
 * Opens the store, the token blacklist and the authority without serving (CLI `token mint|revoke`,
 * tests, bench). `feed` is what resolve asks about tkdb's revocations; without one, resolve is
 * refused with `unavailable`.
 */
export function openPetsem(config: StartPetsemConfig, feed: TkdbRevocationFeed | null = null): OpenPetsem {
  const file = petsemDbFile(config);
  const store = SecretStore.open({
    file,
    kek: config.kek,
    ...(config.kekNext == null ? {} : { kekNext: config.kekNext }),
    ...(config.kekRetired === undefined ? {} : { kekRetired: config.kekRetired }),
    ...(config.backend === undefined ? {} : { backend: config.backend }),
    ...(config.now === undefined ? {} : { now: config.now }),
  });
  let blacklist: TokenBlacklist | undefined;
  let tokenKeys: TokenKeys | undefined;
  try {
    blacklist = TokenBlacklist.open(file, store.crypto, config.now);
    tokenKeys = TokenKeys.open(file, store.ring);
    if (tokenKeys.isEmpty()) store.metaKey(FIRST_TOKEN_KEY);
    const keys = tokenKeys;
    const authority = new PetsemAuthority({
      rootKey: keys.current().signing,
      signingKeys: () => keys.current(),
      location: config.location ?? DEFAULT_PETSEM_LOCATION,
      tkdbLocation: config.tkdbLocation ?? DEFAULT_TKDB_LOCATION,
      tkdbSharedKey: config.tkdbSharedKey ?? null,
      revokedTokens: blacklist,
      userRevocations: feed,
      kit: petsemCaveatKit,
      ...(config.now === undefined ? {} : { now: config.now }),
    });
    const bl = blacklist;
    return {
      store,
      authority,
      blacklist: bl,
      close() {
        bl.close();
        keys.close();
        store.close();
      },
    };
  } catch (e) {
    blacklist?.close();
    tokenKeys?.close();
    store.close();
    throw e;
  }
}

/** The revocation feed a serving petsem follows, or null when it cannot resolve anyway. */
function revocationFeed(config: StartPetsemConfig): TkdbRevocationFeed | null {
  const timings = {
    pollIntervalMs: config.tkdbFeed?.pollIntervalMs ?? DEFAULT_FEED_POLL_MS,
    failClosedAfterMs: config.tkdbFeed?.failClosedAfterMs ?? DEFAULT_FEED_FAIL_CLOSED_MS,
    ...(config.now === undefined ? {} : { now: config.now }),
    ...(config.onFeedError === undefined ? {} : { onError: config.onFeedError }),
  };
  if (config.unsafeTestRevocationSource !== undefined) {
    return new TkdbRevocationFeed({ source: config.unsafeTestRevocationSource, ...timings });
  }
  const feed = config.tkdbFeed ?? null;
  if (feed === null) {
    if (config.tkdbSharedKey) {
      throw new PetsemError(
        "config",
        "PETSEM_TKDB_URL and PETSEM_TKDB_PUBLIC_KEY are required to serve with a tkdb shared key",
      );
    }
    return null;
  }
  const source = new TkdbClient({
    endpoints: feed.urls.map((url) => ({ url, serverPublicKey: feed.publicKey })),
    registry: flyRegistry,
    ...(config.backend === undefined ? {} : { backend: config.backend }),
    // One short attempt per endpoint: the next poll is the retry, and freshness decides.
    timeoutMs: Math.min(5_000, feed.pollIntervalMs * 2),
    retry: { attempts: 1 },
  });
  return new TkdbRevocationFeed({ source, ...timings });
}

/**
 * Serve once the feed's first poll is in, or after a bounded wait: writes do not need tkdb, and
 * resolve fails closed with `unavailable` until the feed has answered.
 */
async function firstPoll(feed: TkdbRevocationFeed, waitMs: number): Promise<void> {
  let waited: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    feed.start(),
    new Promise<void>((r) => {
      waited = setTimeout(r, waitMs);
    }),
  ]);
  clearTimeout(waited);
}

interface Served {
  readonly listening: Listening;
  readonly metricsServer: MetricsServer | undefined;
  /** flushes and stops the tracing started here (not a Tracing the caller passed) */
  stopTracing(): Promise<void>;
}

/**
 * The RPC listener with its telemetry (spans per RPC, metrics, the metrics listener when a port is
 * configured). On failure it undoes what it started and rethrows.
 */
async function serveRpc(
  config: StartPetsemConfig,
  opened: OpenPetsem,
  audit: PetsemAudit,
  staticKeyPair: KeyPair,
  host: string,
  watched: Watch,
): Promise<Served> {
  const telemetryError = (message: string) => () => config.onTelemetryError?.(message);
  const telemetry = petsemTelemetry({
    dbFile: petsemDbFile(config),
    auditDir: petsemAuditDir(config),
    ...watched,
    ...(config.otel === undefined ? {} : { otel: config.otel }),
    ...(config.tracing === undefined ? {} : { tracing: config.tracing }),
    onError: telemetryError("trace export failed"),
  });
  const stopTracing = () =>
    config.tracing === undefined ? shutdownTracing(telemetry.tracing) : Promise.resolve();
  let listening: Listening | undefined;
  try {
    const limits = resolveLimits(config.httpLimits ?? {});
    const { app, front } = petsemRoutes(
      {
        store: opened.store,
        authorizer: opened.authority,
        audit,
        staticKeyPair,
        telemetry,
        ...(config.backend === undefined ? {} : { backend: config.backend }),
        ...(config.now === undefined ? {} : { now: config.now }),
        ...(config.log === undefined
          ? {}
          : { onEvent: (e: RpcEvent) => logRpcEvent(config.log as LogFn, e) }),
      },
      limits.maxBodyBytes,
    );
    // Request/header timeouts, connection caps and the body limit (security issue 12 item 9);
    // the Noise route skips Hono (front, as in tkdb).
    listening = await listen(app.fetch, {
      host,
      port: config.port ?? 0,
      ...config.httpLimits,
      front: front as unknown as ListenOptions["front"],
      onError: (error) => config.log?.("error", "request failed", { error }),
    });
    const metricsServer =
      config.metricsPort === undefined || config.metricsPort === null
        ? undefined
        : await startMetricsServer(telemetry.metrics, {
            host: config.metricsHost ?? "127.0.0.1",
            port: config.metricsPort,
            onError: telemetryError("metrics scrape failed"),
          });
    return { listening, metricsServer, stopTracing };
  } catch (e) {
    await listening?.close(0);
    await stopTracing();
    throw e;
  }
}

/**
 * Before serving: the audit log takes its writer lock, and intents a crash left open get their
 * outcome from the database (audit-log.ts). On failure the store is closed too.
 */
async function openAudit(config: StartPetsemConfig, opened: OpenPetsem): Promise<PetsemAudit> {
  let audit: PetsemAudit | undefined;
  try {
    audit = await PetsemAudit.open({
      dir: petsemAuditDir(config),
      node: config.auditNode ?? "petsem",
      ...(config.now === undefined ? {} : { clock: config.now }),
    });
    await audit.reconcile(opened.store);
    return audit;
  } catch (e) {
    await audit?.close().catch(() => undefined);
    opened.close();
    throw e;
  }
}

export async function startPetsem(config: StartPetsemConfig): Promise<RunningPetsem> {
  if (config.noiseStaticKey === null || config.noiseStaticKey === undefined) {
    throw new PetsemError("config", "PETSEM_NOISE_KEY is required to serve");
  }
  const staticKeyPair: KeyPair = noiseKeyPair(config.noiseStaticKey, config.backend ?? "native");
  const feed = revocationFeed(config);
  const opened = openPetsem(config, feed);
  const { store, authority, blacklist } = opened;
  const audit = await openAudit(config, opened);
  let replication: Replication | null = null;
  const litestream = watchLitestream(config.onLitestreamLog);
  if (config.litestream) {
    try {
      replication = await startReplication(petsemDbFile(config), config.litestream, {
        onLog: litestream.onLog,
      });
    } catch (e) {
      await audit.close().catch(() => undefined);
      opened.close();
      throw e;
    }
  }
  if (feed !== null) await firstPoll(feed, config.feedStartWaitMs ?? 5_000);
  const host = config.host ?? "127.0.0.1";
  let served: Served;
  try {
    served = await serveRpc(config, opened, audit, staticKeyPair, host, { feed, litestream });
  } catch (e) {
    feed?.stop();
    await replication?.stop().catch(() => undefined);
    await audit.close().catch(() => undefined);
    opened.close();
    throw e;
  }
  const { listening, metricsServer } = served;
  let closed = false;
  const url = listening.url;
  config.log?.("info", "petsem listening", { url });
  return {
    url,
    publicKey: staticKeyPair.publicKey,
    store,
    authority,
    blacklist,
    feed,
    replication,
    metricsUrl: metricsServer?.url ?? null,
    audit,
    async close() {
      if (closed) return;
      closed = true;
      feed?.stop();
      await listening.close();
      await metricsServer?.close();
      // The spans of the last requests leave before the process does (never rejects).
      await served.stopTracing();
      // Litestream's final sync first, while the database is still open and its WAL intact.
      try {
        await replication?.stop();
      } finally {
        // The counters and a final checkpoint, then the writer lock goes.
        await audit.close().catch(() => undefined);
        opened.close();
      }
    },
  };
}
