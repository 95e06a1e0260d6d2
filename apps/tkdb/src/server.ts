/**
 * The tkdb service: Hono app with the two HTTP/Noise APIs, started in-process by `startTkdb`.
 * Mutating ops run in one SQLite transaction with their idempotency record `(client key, rid)`
 * (sealed, keyed fingerprint; see mutate.ts) and their audit record: no record, no operation.
 * `discharge` keeps no idempotency record (a retry gets a fresh discharge), only its audit record.
 * Each signing client key may call only the ops its TKDB_SIGN_CLIENTS entry names (`forbidden`).
 */
import {
  createNoiseHandler,
  getNative,
  type HttpLimits,
  type NodeListener,
  type NoiseOpContext,
  nodeNoiseListener,
} from "@tkdb/noise";
import {
  createLogger,
  type Listening,
  type ListenOptions,
  type LogFn as Logger,
  listen,
  logRpcEvent,
  type MetricsServer,
  startMetricsServer,
} from "@tkdb/service";
import { Hono } from "hono";
import {
  type AuditDeps,
  dischargeOp,
  feedOp,
  mutationOp,
  refusalsLogged,
  startAuditing,
  verifyOp,
} from "./audited.js";
import { native, type Primitives } from "./crypto.js";
import {
  MAX_DISCHARGE_TTL,
  type SignOp,
  signClientTable,
  type TkdbConfig,
  validDischargeTtl,
} from "./env.js";
import { ConfigError, forWire, TkdbError } from "./errors.js";
import { createTkdbMetrics, type ServiceMetrics } from "./metrics.js";
import {
  assertWritable,
  isReplicaAtStart,
  openReplication,
  type Replication,
  replicatedOp,
} from "./replication.js";
import { discharge } from "./rpc/discharge.js";
import { health } from "./rpc/health.js";
import { mint } from "./rpc/mint.js";
import { orgCreate } from "./rpc/org_create.js";
import { revocations } from "./rpc/revocations.js";
import { revoke } from "./rpc/revoke.js";
import { strip } from "./rpc/strip.js";
import { verifyAudited } from "./rpc/verify.js";
import { type AuditInput, DrizzleStore } from "./store.js";
import { TokenService } from "./tokens.js";
import { shutdownTracing, startTkdbTracing, type Tracing, traced } from "./tracing.js";

export interface TkdbHandle {
  /** http://host:port */
  url: string;
  /** Noise static public key of this server (clients need it). */
  publicKey: Uint8Array;
  metricsUrl?: string;
  service: TokenService;
  close(): Promise<void>;
}

export interface AppDeps {
  service: TokenService;
  config: TkdbConfig;
  log: Logger;
  metrics: ServiceMetrics;
  /** RPC spans (default: a disabled Tracing, which still passes `tp` on). */
  tracing?: Tracing;
  /** Heartbeat, position, staleness and epoch (replication.ts); absent: no replication fields. */
  replication?: Replication;
  /** The node's audit log, idempotency records and store (audited.ts). */
  audited: AuditDeps;
  now?: () => number;
}

function mutating(
  deps: AppDeps,
  op: string,
  fn: (args: Record<string, unknown>) => [unknown, AuditInput],
): (ctx: NoiseOpContext) => Promise<unknown> {
  const run = mutationOp(deps.audited, op, fn);
  return async (ctx) => {
    assertWritable(deps.config, deps.replication);
    return run(ctx);
  };
}

type OpFn = (ctx: NoiseOpContext) => Promise<unknown>;

type NoiseEvent = Parameters<NonNullable<Parameters<typeof createNoiseHandler>[0]["onEvent"]>>[0];

const sameKey = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The signing clients (TKDB_SIGN_CLIENTS): who may complete the KK handshake, and `guard(op, f)`,
 * the per-op allow-list checked once the authenticated payload's op is known.
 */
function signingClients(config: TkdbConfig, log: Logger) {
  const table = signClientTable(config.signClients);
  const legacy = "signing client listed without ops: it may call every signing op; name its ops (key:op+op)";
  for (const c of table)
    if (c.legacy) log("warn", legacy, { clientKey: Buffer.from(c.publicKey).toString("base64url") });
  return {
    allowed: (key: Uint8Array) => table.some((c) => sameKey(c.publicKey, key)),
    guard:
      (op: SignOp, f: OpFn): OpFn =>
      async (ctx) => {
        const entry = table.find((c) => sameKey(c.publicKey, ctx.clientKey));
        if (entry === undefined || !entry.ops.has(op))
          throw new TkdbError("forbidden", `this signing client may not call ${op}`);
        return f(ctx);
      },
  };
}

/**
 * Observability of the RPCs: `onEvent` (metrics: rate, errors and duration per op and outcome; and
 * the one log line per RPC, with its duration as the Noise handler measured it: no
 * AsyncLocalStorage, whose hooks cost every promise of every request), and `ops(api, fns)`, which
 * runs each op in its span and rethrows refusals under tkdb's wire codes.
 */
function rpcObserver(deps: AppDeps) {
  const { log, metrics } = deps;
  const onEvent = (e: NoiseEvent) => {
    if (e.type === "rejected") metrics.rejected(e.reason.split(":")[0] ?? "");
    else if (e.type === "response")
      metrics.observeRpc(e.op, e.ok ? "ok" : (e.code ?? "error"), e.durationMs / 1000);
    logRpcEvent(log, e);
  };
  const tracing = deps.tracing ?? startTkdbTracing({});
  const ops = (api: string, fns: Record<string, OpFn>): Record<string, OpFn> =>
    Object.fromEntries(
      Object.entries(fns).map(([k, f]) => {
        // Every refusal is audited (health never refuses); feed polls are counted.
        const t = traced(tracing, api, refusalsLogged(deps.audited, k, f, k === "revocations"));
        const op: OpFn = async (ctx) => {
          try {
            return await t(ctx);
          } catch (e) {
            throw forWire(e);
          }
        };
        return [k, op];
      }),
    );
  return { onEvent, ops };
}

export function createApp(
  deps: AppDeps,
  noiseSecretKey: Uint8Array,
): { app: Hono; publicKey: Uint8Array; front: (rest: NodeListener) => NodeListener } {
  const { service, config, log } = deps;
  const signers = signingClients(config, log);
  const nc = getNative();
  if (nc === undefined) throw new TkdbError("config", "node:crypto X25519 is unavailable");
  const staticKeyPair = { secretKey: noiseSecretKey, publicKey: nc.publicKeyOf(noiseSecretKey) };
  const { onEvent, ops } = rpcObserver(deps);
  const fresh = (f: OpFn) => replicatedOp(deps.replication, f);
  const verifyHandler = createNoiseHandler({
    api: "verify",
    pattern: "IK",
    staticKeyPair,
    backend: nc,
    onEvent,
    // These carry user tokens: only inside a session, never in handshake message 1.
    // Only these carry no token in their arguments; every other op must come in a session.
    messageOneOps: ["health", "revocations"],
    ops: ops("verify", {
      // Any node answers these; a replica past its bound answers `stale` (replication.ts).
      verify: fresh(verifyOp(deps.audited, "verify", (a) => verifyAudited(service, a))),
      revocations: fresh(feedOp(deps.audited, "revocations", (a) => revocations(service, a))),
      // No database write: any node answers it (the audit log is the node's own file).
      discharge: fresh(dischargeOp(deps.audited, (a) => discharge(service, a))),
      health: async () => health(config.litefsDir, deps.replication),
    }),
  });
  const signHandler = createNoiseHandler({
    api: "sign",
    pattern: "KK",
    staticKeyPair,
    backend: nc,
    onEvent,
    // Any listed key may complete the handshake; which ops it may call is signers.guard's check.
    allowedClientKeys: signers.allowed,
    // strip carries a user token and revoke names a token: only these two may use message 1.
    messageOneOps: ["org_create", "mint"],
    ops: ops("sign", {
      org_create: signers.guard(
        "org_create",
        mutating(deps, "org_create", (a) => orgCreate(service, a)),
      ),
      mint: signers.guard(
        "mint",
        mutating(deps, "mint", (a) => mint(service, a)),
      ),
      revoke: signers.guard(
        "revoke",
        mutating(deps, "revoke", (a) => revoke(service, a)),
      ),
      strip: signers.guard(
        "strip",
        mutating(deps, "strip", (a) => strip(service, a)),
      ),
    }),
  });
  const app = new Hono();
  const withAddress =
    (h: (r: Request, info: { remoteAddress?: string | undefined }) => Promise<Response>) =>
    async (c: { req: { raw: Request }; env: unknown }) => {
      // The socket's address (never a client header): the unit of the per-source budgets.
      const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
      return h(c.req.raw, { remoteAddress: env?.incoming?.socket?.remoteAddress });
    };
  app.post("/noise/v1/verify/:op", withAddress(verifyHandler));
  app.post("/noise/v1/sign/:op", withAddress(signHandler));
  app.onError((err, c) => {
    log("error", "unhandled", { error: err });
    return c.body(null, 500);
  });
  // On node:http the Noise routes skip Hono (no fetch Request/Response per call; see @tkdb/noise
  // node-http.ts); anything else goes on to the Hono app.
  const front = (rest: NodeListener) => nodeNoiseListener([verifyHandler, signHandler], rest);
  return { app, publicKey: staticKeyPair.publicKey, front };
}

/** Opens the database (checking the KEK first), and listens. */
export interface StartOptions {
  /** Crypto backend for sealing root keys and the audit chain (default native). */
  primitives?: Primitives;
  /**
   * RPC spans (default: started from `config.otel`, the OTEL_* variables, and shut down, with a
   * final flush, by close()). A Tracing passed here is the caller's to shut down.
   */
  tracing?: Tracing;
  /** HTTP timeouts and connection caps (defaults: @tkdb/noise DEFAULT_HTTP_LIMITS, 10 s timeouts). */
  httpLimits?: Partial<HttpLimits>;
  /** A read-only replica became primary (LiteFS): it must restart to take writes (serve exits). */
  onPromoted?: () => void;
}

/**
 * The database and the node's replication state. A replica (TKDB_REPLICA, or LiteFS's .primary at
 * start) opens the database read-only: no migrations, no KEK check value written, no pruning (the
 * primary does all three).
 */
function openNode(config: TkdbConfig, p: Primitives, log: Logger, onPromoted: (() => void) | undefined) {
  const replica = isReplicaAtStart(config);
  const store = new DrizzleStore(config.dbPath, p, { replica });
  const service = new TokenService(store, config, p);
  try {
    service.checkKek({ replica });
    if (!replica) service.pruneRevocations(Date.now());
    const replication = openReplication(config, { readOnly: replica, log, p, onPromoted });
    return { replica, store, service, replication };
  } catch (err) {
    store.close();
    throw err;
  }
}

/** The one JSON-lines logger (@tkdb/service: redacting, `{ts, level, msg, service, …}`). */
export function tkdbLogger(config: Pick<TkdbConfig, "log">): Logger {
  return createLogger({
    stream: config.log ?? process.stderr,
    base: { service: "tkdb" },
    publicFields: ["clientKey"],
  }).log;
}

export async function startTkdb(config: TkdbConfig, opts: StartOptions = {}): Promise<TkdbHandle> {
  const p = opts.primitives ?? native;
  const log = tkdbLogger(config);
  // Refuse a bad configuration before touching the database.
  if (!validDischargeTtl(config.dischargeTtl))
    throw new ConfigError(`dischargeTtl must be a whole number of seconds in 1..${MAX_DISCHARGE_TTL}`);
  signClientTable(config.signClients);
  const { replica, store, service, replication } = openNode(config, p, log, opts.onPromoted);
  const closeStorage = async (auditing?: { close(): Promise<void> }) => {
    replication.close();
    await auditing?.close();
    store.close();
  };
  // The node's audit log (a crash's open intents reconciled) before anything is served.
  const auditing = await startAuditing(store, service.idempotencyKeys, config, replica).catch(
    async (err: unknown) => {
      await closeStorage();
      throw err;
    },
  );
  const metrics = createTkdbMetrics(config);
  let tracing: Tracing;
  let main: Listening;
  let metricsServer: MetricsServer | undefined;
  let publicKey: Uint8Array;
  try {
    tracing =
      opts.tracing ??
      startTkdbTracing(config.otel ?? {}, (error) => log("warn", "trace export failed", { error }));
  } catch (err) {
    await closeStorage(auditing);
    throw err;
  }
  try {
    const deps = { service, config, log, metrics, tracing, replication, audited: auditing.deps };
    const made = createApp(deps, config.noiseSecretKey);
    publicKey = made.publicKey;
    // Request/header timeouts, connection caps, body limit; Noise routes skip Hono (front).
    const front = made.front as unknown as ListenOptions["front"];
    const { host, port } = config;
    main = await listen(made.app.fetch, {
      host,
      port,
      ...opts.httpLimits,
      front,
      onError: (error) => log("error", "unhandled", { error }),
    });
    if (config.metricsPort !== undefined) {
      const on = main;
      metricsServer = await startMetricsServer(metrics, {
        host: config.metricsHost ?? "127.0.0.1",
        port: config.metricsPort,
        onError: (error) => log("error", "metrics scrape failed", { error }),
      }).catch(async (err: unknown) => {
        await on.close(0);
        throw err;
      });
    }
  } catch (err) {
    if (opts.tracing === undefined) await shutdownTracing(tracing);
    await closeStorage(auditing);
    throw err;
  }
  replication.start();
  log("info", "tkdb listening", { url: main.url });
  const handle: TkdbHandle = {
    url: main.url,
    publicKey,
    service,
    async close() {
      await main.close();
      await metricsServer?.close();
      await closeStorage(auditing);
      // The spans of the last requests leave before the process does.
      if (opts.tracing === undefined) await shutdownTracing(tracing);
    },
  };
  if (metricsServer) handle.metricsUrl = metricsServer.url;
  return handle;
}
