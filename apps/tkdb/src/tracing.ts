/**
 * One OpenTelemetry span per RPC, child of the client's W3C traceparent (carried encrypted in the
 * Noise payload as `tp`). Only @opentelemetry/api here: with no SDK registered it is a no-op.
 */
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import type { NoiseOpContext } from "@tkdb/noise";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function parentContext(tp: string | undefined) {
  const m = tp === undefined ? null : TRACEPARENT.exec(tp);
  if (m === null || /^0+$/.test(m[1] as string) || /^0+$/.test(m[2] as string)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: m[1] as string,
    spanId: m[2] as string,
    traceFlags: Number.parseInt(m[3] as string, 16),
    isRemote: true,
  });
}

export function traced(
  tracer: Tracer,
  api: string,
  fn: (ctx: NoiseOpContext) => Promise<unknown>,
): (ctx: NoiseOpContext) => Promise<unknown> {
  return (ctx) =>
    tracer.startActiveSpan(
      `tkdb.${api}.${ctx.op}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "rpc.system": "noise",
          "rpc.service": `tkdb.${api}`,
          "rpc.method": ctx.op,
          "tkdb.cid": ctx.correlationId,
        },
      },
      parentContext(ctx.traceparent),
      async (span) => {
        try {
          const r = await context.with(trace.setSpan(context.active(), span), () => fn(ctx));
          span.setStatus({ code: SpanStatusCode.OK });
          return r;
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          span.setAttribute("tkdb.error", typeof code === "string" ? code : "internal");
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw err;
        } finally {
          span.end();
        }
      },
    );
}

export const defaultTracer = (): Tracer => trace.getTracer("tkdb");
