/**
 * The tkdb service: Hono app with the two HTTP/Noise APIs, started in-process by `startTkdb`.
 * Mutating ops run in one SQLite transaction with their idempotency record `(client key, rid)`
 * (sealed, keyed fingerprint; see mutate.ts) and their audit record: no record, no operation.
 * `discharge` keeps no idempotency record (a retry gets a fresh discharge), only its audit record.
 * Each signing client key may call only the ops its TKDB_SIGN_CLIENTS entry names (`forbidden`).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { type ServerType, serve } from "@hono/node-server";
import {
  createNoiseHandler,
  getNative,
  type HttpLimits,
  httpServerOptions,
  limitConnections,
  type NoiseOpContext,
  resolveHttpLimits,
} from "@tkdb/noise";
import { type MetricsServer, startMetricsServer } from "@tkdb/service";
import { Hono } from "hono";
import { native, type Primitives } from "./crypto.js";
import {
  MAX_DISCHARGE_TTL,
  type SignOp,
  signClientTable,
  type TkdbConfig,
  validDischargeTtl,
} from "./env.js";
import { ConfigError, forWire, TkdbError } from "./errors.js";
import { assertPrimary, isPrimary } from "./litefs.js";
import { createLogger, type Logger } from "./log.js";
import { createTkdbMetrics, type ServiceMetrics } from "./metrics.js";
import { runAudited, runMutation } from "./mutate.js";
import { discharge } from "./rpc/discharge.js";
import { health } from "./rpc/health.js";
import { mint } from "./rpc/mint.js";
import { orgCreate } from "./rpc/org_create.js";
import { revocations } from "./rpc/revocations.js";
import { revoke } from "./rpc/revoke.js";
import { strip } from "./rpc/strip.js";
import { verify } from "./rpc/verify.js";
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
  now?: () => number;
}

function mutating(
  deps: AppDeps,
  op: string,
  fn: (args: Record<string, unknown>) => [unknown, AuditInput],
): (ctx: NoiseOpContext) => Promise<unknown> {
  return async (ctx) => {
    assertPrimary(deps.config.litefsDir);
    return runMutation(
      {
        store: deps.service.store,
        op,
        actor: ctx.clientKeyBase64Url,
        idempotency: {
          rid: ctx.rid,
          args: ctx.args,
          keys: deps.service.idempotencyKeys,
          p: deps.service.p,
        },
        now: (deps.now ?? Date.now)(),
      },
      () => fn(ctx.args),
    );
  };
}

/** An audited op without an idempotency record (discharge). */
function audited(
  deps: AppDeps,
  op: string,
  fn: (args: Record<string, unknown>) => [unknown, AuditInput],
): (ctx: NoiseOpContext) => Promise<unknown> {
  return async (ctx) => {
    assertPrimary(deps.config.litefsDir);
    return runAudited(
      { store: deps.service.store, op, actor: ctx.clientKeyBase64Url, now: (deps.now ?? Date.now)() },
      () => fn(ctx.args),
    );
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
  for (const c of table)
    if (c.legacy)
      log(
        "warn",
        "signing client listed without ops: it may call every signing op; name its ops (key:op+op)",
        {
          clientKey: Buffer.from(c.publicKey).toString("base64url"),
        },
      );
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
 * the one log line per RPC, with its duration), `timed` (the HTTP request's start time, which
 * onEvent reads: it runs in the request's async context), and `ops(api, fns)`, which runs each op
 * in its span and rethrows refusals under tkdb's wire codes.
 */
function rpcObserver(deps: AppDeps) {
  const { log, metrics } = deps;
  const requestStart = new AsyncLocalStorage<number>();
  const onEvent = (e: NoiseEvent) => {
    if (e.type === "rejected") metrics.rejected(e.reason.split(":")[0] ?? "");
    else if (e.type === "response") {
      const outcome = e.ok ? "ok" : (e.code ?? "error");
      const t0 = requestStart.getStore();
      const ms = t0 === undefined ? undefined : performance.now() - t0;
      metrics.observeRpc(e.op, outcome, ms === undefined ? Number.NaN : ms / 1000);
      log("info", "rpc", {
        op: e.op,
        outcome,
        durationMs: ms === undefined ? undefined : Math.round(ms * 1000) / 1000,
        clientKey: e.clientKey,
        cid: e.correlationId,
        rid: e.rid,
        traceparent: e.traceparent,
      });
    } else log("error", "op failed", { op: e.op, cid: e.correlationId, error: e.error });
  };
  const tracing = deps.tracing ?? startTkdbTracing({});
  const ops = (api: string, fns: Record<string, OpFn>): Record<string, OpFn> =>
    Object.fromEntries(
      Object.entries(fns).map(([k, f]) => {
        const t = traced(tracing, api, f);
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
  const timed = <T>(fn: () => Promise<T>): Promise<T> => requestStart.run(performance.now(), fn);
  return { onEvent, ops, timed };
}

export function createApp(deps: AppDeps, noiseSecretKey: Uint8Array): { app: Hono; publicKey: Uint8Array } {
  const { service, config, log } = deps;
  const signers = signingClients(config, log);
  const nc = getNative();
  if (nc === undefined) throw new TkdbError("config", "node:crypto X25519 is unavailable");
  const staticKeyPair = { secretKey: noiseSecretKey, publicKey: nc.publicKeyOf(noiseSecretKey) };
  const { onEvent, ops, timed: inRequest } = rpcObserver(deps);
  const sync = (fn: (a: Record<string, unknown>) => unknown) => async (ctx: NoiseOpContext) => fn(ctx.args);
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
      verify: sync((a) => verify(service, a)),
      revocations: sync((a) => revocations(service, a)),
      discharge: audited(deps, "discharge", (a) => discharge(service, a)),
      health: async () => health(config.litefsDir),
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
  const timed =
    (h: (r: Request, info: { remoteAddress?: string | undefined }) => Promise<Response>) =>
    async (c: { req: { raw: Request }; env: unknown }) => {
      // The socket's address (never a client header): the unit of the per-source budgets.
      const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
      return inRequest(() => h(c.req.raw, { remoteAddress: env?.incoming?.socket?.remoteAddress }));
    };
  app.post("/noise/v1/verify/:op", timed(verifyHandler));
  app.post("/noise/v1/sign/:op", timed(signHandler));
  app.onError((err, c) => {
    log("error", "unhandled", { error: err });
    return c.body(null, 500);
  });
  return { app, publicKey: staticKeyPair.publicKey };
}

function listen(
  fetch: (r: Request, env?: unknown) => Response | Promise<Response>,
  host: string,
  port: number,
  limits: HttpLimits = resolveHttpLimits(),
) {
  return new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
    // Request/header timeouts and connection caps: slow clients cannot hold the server.
    const server = serve({ fetch, hostname: host, port, serverOptions: httpServerOptions(limits) }, (info) =>
      resolve({ server, port: info.port }),
    );
    limitConnections(server, limits);
    server.once("error", reject);
  });
}

function closeServer(s: ServerType): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    (s as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
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
}

export async function startTkdb(config: TkdbConfig, opts: StartOptions = {}): Promise<TkdbHandle> {
  const p = opts.primitives ?? native;
  const log = createLogger(config.log);
  // Refuse a bad configuration before touching the database.
  if (!validDischargeTtl(config.dischargeTtl))
    throw new ConfigError(`dischargeTtl must be a whole number of seconds in 1..${MAX_DISCHARGE_TTL}`);
  signClientTable(config.signClients);
  // On a LiteFS replica the database is read-only: no migrations, no KEK check value written, no
  // replay pruning (the primary does all three).
  const replica = !isPrimary(config.litefsDir);
  const store = new DrizzleStore(config.dbPath, p, { replica });
  const service = new TokenService(store, config, p);
  try {
    service.checkKek({ replica });
  } catch (err) {
    store.close();
    throw err;
  }
  if (!replica) {
    store.pruneIdempotency(Date.now());
    service.pruneRevocations(Date.now());
  }
  const metrics = createTkdbMetrics(config.dbPath);
  let tracing: Tracing;
  let main: { server: ServerType; port: number };
  let metricsServer: MetricsServer | undefined;
  let publicKey: Uint8Array;
  try {
    tracing =
      opts.tracing ??
      startTkdbTracing(config.otel ?? {}, (error) => log("warn", "trace export failed", { error }));
  } catch (err) {
    store.close();
    throw err;
  }
  try {
    const { app, publicKey: pk } = createApp(
      { service, config, log, metrics, tracing },
      config.noiseSecretKey,
    );
    publicKey = pk;
    main = await listen(app.fetch, config.host, config.port, resolveHttpLimits(opts.httpLimits));
    if (config.metricsPort !== undefined) {
      const on = main;
      metricsServer = await startMetricsServer(metrics, {
        host: config.metricsHost ?? "127.0.0.1",
        port: config.metricsPort,
        onError: (error) => log("error", "metrics scrape failed", { error }),
      }).catch(async (err: unknown) => {
        await closeServer(on.server);
        throw err;
      });
    }
  } catch (err) {
    if (opts.tracing === undefined) await shutdownTracing(tracing);
    store.close();
    throw err;
  }
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  log("info", "tkdb listening", { url: `http://${host}:${main.port}` });
  const handle: TkdbHandle = {
    url: `http://${host}:${main.port}`,
    publicKey,
    service,
    async close() {
      await closeServer(main.server);
      await metricsServer?.close();
      store.close();
      // The spans of the last requests leave before the process does.
      if (opts.tracing === undefined) await shutdownTracing(tracing);
    },
  };
  if (metricsServer) handle.metricsUrl = metricsServer.url;
  return handle;
}
