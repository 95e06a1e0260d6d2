/**
 * tkdb's spans, on @tkdb/service's tracing: one SERVER span per RPC (`tkdb.<api>/<op>`), child of
 * the caller's W3C traceparent (the Noise payload's `tp`, inside the encryption). Exported with the
 * OpenTelemetry Node SDK and the OTLP/HTTP exporter only when env.ts's OTEL_* variables name an
 * endpoint (and OTEL_SDK_DISABLED is not true); otherwise a no-op that still passes `tp` on.
 * What a span may carry is the library's allow-list: never a token, key, argument or client key.
 */
import type { NoiseOpContext } from "@tkdb/noise";
import { type Env, startTracing, type Tracing } from "@tkdb/service";

export type { Tracing };

/** Tracing for tkdb from the OTEL_* variables env.ts read (an empty object: off). */
export function startTkdbTracing(otel: Env, onError?: (err: unknown) => void): Tracing {
  return startTracing({
    env: otel,
    serviceName: "tkdb",
    ...(onError === undefined ? {} : { onError }),
  });
}

/**
 * Runs `fn` in the RPC's span; a refusal marks the span with its code (`rpc.outcome`). With
 * tracing off, `fn` itself: no span object, context or traceparent parsing per RPC (tkdb makes no
 * outgoing calls that would carry `tp` on).
 */
export function traced(
  tracing: Tracing,
  api: string,
  fn: (ctx: NoiseOpContext) => Promise<unknown>,
): (ctx: NoiseOpContext) => Promise<unknown> {
  if (!tracing.enabled) return fn;
  return (ctx) => tracing.inRpcSpan({ api, op: ctx.op, traceparent: ctx.traceparent }, () => fn(ctx));
}

/**
 * Shuts tracing down (flushing the last spans), waiting at most `ms`: a collector that is down
 * does not hold a stopping service for the exporter's whole timeout. Never rejects.
 */
export async function shutdownTracing(tracing: Tracing, ms = 3_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    tracing.shutdown(),
    new Promise<void>((r) => {
      timer = setTimeout(r, ms);
      timer.unref?.();
    }),
  ]);
  clearTimeout(timer);
}
