/**
 * OpenTelemetry tracing for a service: a NodeTracerProvider with a BatchSpanProcessor and the
 * OTLP/HTTP exporter, on only when the env object names an endpoint (otel-env.ts). The exporter
 * of @opentelemetry/exporter-trace-otlp-http 0.223.1 POSTs OTLP as JSON (`Content-Type:
 * application/json`) to <endpoint>/v1/traces; collectors accept it beside protobuf.
 *
 * One SERVER span per RPC, child of the caller's W3C traceparent (the Noise payload's `tp`, which
 * is inside the encryption and so authenticated with the request). What a span may carry is an
 * allow-list enforced at export (span-filter.ts): never a token, key, value or argument.
 *
 * Everything the SDK would otherwise read from process.env (sampler, batch sizes, endpoint,
 * headers, timeout) is passed explicitly from the env object. The OTLP exporter still looks at
 * process.env for settings we do not pass (client certificates); in an app the env object is
 * process.env, so the two agree.
 */
import {
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import type { Env } from "../config.js";
import { type OtlpTracingConfig, otlpTracingFromEnv } from "./otel-env.js";
import { AllowListSpanExporter, allowList } from "./span-filter.js";

export interface TracingOptions {
  /** the env object (the app's process.env); tracing is on only when it names an OTLP endpoint */
  env: Env;
  /** service.name, e.g. "tkdb" (OTEL_SERVICE_NAME overrides it) */
  serviceName: string;
  serviceVersion?: string;
  /** extra span attribute names this service sets (checked: none may name material) */
  spanAttributes?: readonly string[];
  /**
   * Register as the global provider, context manager (AsyncLocalStorage) and W3C propagator, so
   * `currentTraceparent()` and nested spans work. Default true; one per process.
   */
  register?: boolean;
  /** tests and benches: export here instead of OTLP (still through the allow-list) */
  exporter?: SpanExporter;
  /** a flush or shutdown failed (the collector is down, the queue too large): log it, nothing more */
  onError?: (err: unknown) => void;
}

export interface RpcSpanInfo {
  /** the Noise api: verify, sign, secrets */
  api: string;
  op: string;
  /** the request's `tp`, when the caller sent one */
  traceparent?: string | undefined;
}

export interface RpcSpan {
  readonly span: Span;
  /** the traceparent for calls this RPC makes to another service (child of this span) */
  readonly traceparent: string | undefined;
}

export interface Tracing {
  readonly enabled: boolean;
  readonly tracer: Tracer;
  /** Runs `fn` in a SERVER span named `<service>.<api>/<op>`, child of `rpc.traceparent`. */
  inRpcSpan<T>(rpc: RpcSpanInfo, fn: (s: RpcSpan) => Promise<T> | T): Promise<T>;
  /** Exports what is queued. Never rejects: telemetry does not fail the service (see onError). */
  forceFlush(): Promise<void>;
  /** Flushes, stops the exporter and unregisters the globals it registered. Never rejects. */
  shutdown(): Promise<void>;
}

const w3c = new W3CTraceContextPropagator();
const IDENT = /^[a-z][a-z0-9_]{0,63}$/;
const CODE = /^[a-z][a-z0-9_]{0,63}$/;

/** The parent context a W3C traceparent names; ROOT_CONTEXT when absent or invalid. */
export function parentContext(traceparent: string | undefined): Context {
  if (typeof traceparent !== "string" || traceparent.length > 256) return ROOT_CONTEXT;
  return w3c.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
}

/** The W3C traceparent of `span` (undefined when its context is invalid). */
export function traceparentOf(span: Span): string | undefined {
  const carrier: Record<string, string> = {};
  w3c.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
  return carrier.traceparent;
}

/** The traceparent of the active span (needs a registered Tracing), for a client call's `tp`. */
export function currentTraceparent(): string | undefined {
  const span = trace.getSpan(context.active());
  return span === undefined ? undefined : traceparentOf(span);
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && CODE.test(code) ? code : "internal";
}

function sampler(cfg: OtlpTracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(cfg.samplerRatio);
  switch (cfg.sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function otlpExporter(cfg: OtlpTracingConfig): SpanExporter {
  type Config = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;
  return new OTLPTraceExporter({
    url: cfg.url,
    headers: cfg.headers,
    timeoutMillis: cfg.timeoutMillis,
    compression: cfg.compression as unknown as Config["compression"],
  });
}

/** A Tracing that records nothing, but still passes an incoming traceparent through. */
function disabledTracing(name: string): Tracing {
  return makeTracing(false, name, new ProxyTracerProvider().getTracer(name), async () => {});
}

/**
 * Starts tracing from the env object. Configuration errors are `ConfigError`s naming the
 * variable; with no endpoint configured it returns a disabled Tracing (no SDK, no exporter).
 */
export function startTracing(opts: TracingOptions): Tracing {
  const allowed = allowList(opts.spanAttributes);
  const cfg = otlpTracingFromEnv(opts.env, opts.serviceName);
  if (cfg === undefined && opts.exporter === undefined) return disabledTracing(opts.serviceName);
  const serviceName = cfg?.serviceName ?? opts.serviceName;
  const exporter = opts.exporter ?? otlpExporter(cfg as OtlpTracingConfig);
  const batch = cfg?.batch ?? {
    scheduledDelayMillis: 200,
    maxQueueSize: 2048,
    maxExportBatchSize: 512,
    exportTimeoutMillis: 30_000,
  };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: serviceName,
      ...(opts.serviceVersion === undefined ? {} : { [ATTR_SERVICE_VERSION]: opts.serviceVersion }),
    }),
    sampler: cfg === undefined ? new ParentBasedSampler({ root: new AlwaysOnSampler() }) : sampler(cfg),
    spanLimits: {
      attributeCountLimit: 32,
      attributeValueLengthLimit: 256,
      eventCountLimit: 32,
      linkCountLimit: 8,
    },
    spanProcessors: [new BatchSpanProcessor(new AllowListSpanExporter(exporter, allowed), batch)],
  });
  const register = opts.register !== false;
  if (register) provider.register({ propagator: w3c });
  return makeTracing(
    true,
    serviceName,
    provider.getTracer(serviceName),
    async () => {
      await provider.shutdown();
      if (register) {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
    () => provider.forceFlush(),
  );
}

function makeTracing(
  enabled: boolean,
  service: string,
  tracer: Tracer,
  shutdown: () => Promise<void>,
  forceFlush: () => Promise<void> = async () => {},
): Tracing {
  return {
    enabled,
    tracer,
    forceFlush,
    shutdown,
    async inRpcSpan(rpc, fn) {
      const api = IDENT.test(rpc.api) ? rpc.api : "invalid";
      const op = IDENT.test(rpc.op) ? rpc.op : "invalid";
      const parent = parentContext(rpc.traceparent);
      const span = tracer.startSpan(
        `${service}.${api}/${op}`,
        {
          kind: SpanKind.SERVER,
          attributes: { "rpc.system": "tkdb-noise", "rpc.service": `${service}.${api}`, "rpc.method": op },
        },
        parent,
      );
      try {
        const result = await context.with(trace.setSpan(parent, span), () =>
          fn({ span, traceparent: traceparentOf(span) }),
        );
        span.setAttribute("rpc.outcome", "ok");
        span.setStatus({ code: SpanStatusCode.OK });
        return result;
      } catch (err) {
        const code = errorCode(err);
        span.setAttributes({ "rpc.outcome": code, "error.type": code });
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  };
}
