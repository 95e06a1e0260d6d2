/**
 * The tkdb service: Hono app with the two HTTP/Noise APIs, started in-process by `startTkdb`.
 * Mutating ops (and discharge, which is audited) run in one SQLite transaction with their replay
 * record `(client key, rid)` and their audit record: no record, no operation.
 */
import { type ServerType, serve } from "@hono/node-server";
import type { Tracer } from "@opentelemetry/api";
import { createNoiseHandler, getNative, type NoiseOpContext } from "@tkdb/noise";
import { Hono } from "hono";
import { native, type Primitives } from "./crypto.js";
import type { TkdbConfig } from "./env.js";
import { TkdbError } from "./errors.js";
import { assertPrimary, isPrimary } from "./litefs.js";
import { createLogger, type Logger } from "./log.js";
import { Metrics } from "./metrics.js";
import { runMutation } from "./mutate.js";
import { type AuditInput, DrizzleStore } from "./store.js";
import { TokenService } from "./tokens.js";
import { defaultTracer, traced } from "./tracing.js";

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
  metrics: Metrics;
  tracer?: Tracer;
  now?: () => number;
}

function mutating(
  deps: AppDeps,
  op: string,
  fn: (args: Record<string, unknown>) => [unknown, AuditInput],
): (ctx: NoiseOpContext) => Promise<unknown> {
  return async (ctx) => {
    assertPrimary(deps.config.litefsDir);
    const result = runMutation(
      {
        store: deps.service.store,
        op,
        actor: ctx.clientKeyBase64Url,
        rid: ctx.rid,
        now: (deps.now ?? Date.now)(),
      },
      () => fn(ctx.args),
    );
    if (op === "revoke" && (result as { revoked?: boolean }).revoked)
      deps.metrics.inc("tkdb_revocations_total");
    return result;
  };
}

export function createApp(deps: AppDeps, noiseSecretKey: Uint8Array): { app: Hono; publicKey: Uint8Array } {
  const { service, config, log, metrics } = deps;
  const nc = getNative();
  if (nc === undefined) throw new TkdbError("config", "node:crypto X25519 is unavailable");
  const staticKeyPair = { secretKey: noiseSecretKey, publicKey: nc.publicKeyOf(noiseSecretKey) };
  /** Op start times by correlation id, for the duration in the one-line-per-RPC log. */
  const started = new Map<string, number>();
  const onEvent = (e: Parameters<NonNullable<Parameters<typeof createNoiseHandler>[0]["onEvent"]>>[0]) => {
    if (e.type === "rejected") metrics.inc("tkdb_rejected_total", { reason: e.reason.split(":")[0] ?? "" });
    else if (e.type === "response") {
      metrics.inc("tkdb_requests_total", { op: e.op, code: e.ok ? "ok" : (e.code ?? "error") });
      if (e.op === "verify") metrics.inc("tkdb_verify_total", { outcome: e.ok ? "ok" : (e.code ?? "error") });
      const t0 = started.get(e.correlationId);
      started.delete(e.correlationId);
      log("info", "rpc", {
        op: e.op,
        outcome: e.ok ? "ok" : (e.code ?? "error"),
        durationMs: t0 === undefined ? undefined : Math.round((performance.now() - t0) * 1000) / 1000,
        clientKey: e.clientKey,
        cid: e.correlationId,
        rid: e.rid,
        traceparent: e.traceparent,
      });
    } else log("error", "op failed", { op: e.op, cid: e.correlationId, error: e.error });
  };
  const tracer = deps.tracer ?? defaultTracer();
  const tracedOps = (api: string, ops: Record<string, (ctx: NoiseOpContext) => Promise<unknown>>) =>
    Object.fromEntries(
      Object.entries(ops).map(([k, f]) => {
        const t = traced(tracer, api, f);
        return [
          k,
          (ctx: NoiseOpContext) => {
            started.set(ctx.correlationId, performance.now());
            return t(ctx);
          },
        ];
      }),
    );
  const sync = (fn: (a: Record<string, unknown>) => unknown) => async (ctx: NoiseOpContext) => fn(ctx.args);
  const verifyHandler = createNoiseHandler({
    api: "verify",
    pattern: "IK",
    staticKeyPair,
    backend: nc,
    onEvent,
    ops: tracedOps("verify", {
      verify: sync((a) => service.verify(a)),
      revocations: sync((a) => service.revocations(a)),
      discharge: mutating(deps, "discharge", (a) => service.discharge(a)),
      health: async () => ({ ok: true, primary: isPrimary(config.litefsDir) }),
    }),
  });
  const signHandler = createNoiseHandler({
    api: "sign",
    pattern: "KK",
    staticKeyPair,
    backend: nc,
    onEvent,
    allowedClientKeys: config.signClients,
    ops: tracedOps("sign", {
      org_create: mutating(deps, "org_create", (a) => service.orgCreate(a)),
      mint: mutating(deps, "mint", (a) => service.mint(a)),
      revoke: mutating(deps, "revoke", (a) => service.revoke(a)),
      strip: mutating(deps, "strip", (a) => service.strip(a)),
    }),
  });
  const app = new Hono();
  const timed =
    (h: (r: Request) => Promise<Response>) =>
    async (c: { req: { raw: Request; param(k: string): string } }) => {
      const t0 = performance.now();
      try {
        return await h(c.req.raw);
      } finally {
        metrics.observe(c.req.param("op"), (performance.now() - t0) / 1000);
      }
    };
  app.post("/noise/v1/verify/:op", timed(verifyHandler));
  app.post("/noise/v1/sign/:op", timed(signHandler));
  app.onError((err, c) => {
    log("error", "unhandled", { error: err });
    return c.body(null, 500);
  });
  return { app, publicKey: staticKeyPair.publicKey };
}

function listen(fetch: (r: Request) => Response | Promise<Response>, host: string, port: number) {
  return new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
    const server = serve({ fetch, hostname: host, port }, (info) => resolve({ server, port: info.port }));
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
  /** Tracer for RPC spans (default: the global provider's "tkdb" tracer). */
  tracer?: Tracer;
}

export async function startTkdb(config: TkdbConfig, opts: StartOptions = {}): Promise<TkdbHandle> {
  const p = opts.primitives ?? native;
  const log = createLogger(config.log);
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
  if (!replica) store.pruneReplay(Date.now());
  const metrics = new Metrics();
  const { app, publicKey } = createApp(
    { service, config, log, metrics, ...(opts.tracer ? { tracer: opts.tracer } : {}) },
    config.noiseSecretKey,
  );
  const main = await listen(app.fetch, config.host, config.port);
  let metricsServer: { server: ServerType; port: number } | undefined;
  if (config.metricsPort !== undefined) {
    const m = new Hono();
    m.get("/metrics", (c) => c.text(metrics.render(), 200, { "Content-Type": "text/plain; version=0.0.4" }));
    metricsServer = await listen(m.fetch, "127.0.0.1", config.metricsPort);
  }
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  log("info", "tkdb listening", { url: `http://${host}:${main.port}` });
  const handle: TkdbHandle = {
    url: `http://${host}:${main.port}`,
    publicKey,
    service,
    async close() {
      await closeServer(main.server);
      if (metricsServer) await closeServer(metricsServer.server);
      store.close();
    },
  };
  if (metricsServer) handle.metricsUrl = `http://127.0.0.1:${metricsServer.port}/metrics`;
  return handle;
}
