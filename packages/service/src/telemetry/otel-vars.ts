/**
 * The standard OTEL_* variables both services read through their env.ts (each spreads `otelEnv`
 * into its spec, so --help lists them), and `otelVariables` hands the parsed values back under
 * their own names to `otlpTracingFromEnv`. Headers often hold a collector API key: secret.
 */
import { bool, type ConfigOf, defineConfig, type Env, string, url } from "../config.js";

export const otelEnv = defineConfig({
  otelSdkDisabled: bool("OTEL_SDK_DISABLED", {
    default: false,
    doc: "true: no tracing even with an endpoint",
  }),
  otelTracesExporter: string("OTEL_TRACES_EXPORTER", { doc: "none: no tracing (otherwise OTLP/HTTP)" }),
  otelEndpoint: url("OTEL_EXPORTER_OTLP_ENDPOINT", {
    doc: "OTLP/HTTP collector base URL (/v1/traces appended); set: tracing on",
  }),
  otelTracesEndpoint: url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", {
    doc: "OTLP/HTTP traces URL, used as is (wins over OTEL_EXPORTER_OTLP_ENDPOINT); set: tracing on",
  }),
  otelHeaders: {
    ...string("OTEL_EXPORTER_OTLP_HEADERS", { doc: "collector headers k=v,… (secret)" }),
    secret: true,
  },
  otelTracesHeaders: {
    ...string("OTEL_EXPORTER_OTLP_TRACES_HEADERS", { doc: "traces collector headers k=v,… (secret)" }),
    secret: true,
  },
  otelTimeout: string("OTEL_EXPORTER_OTLP_TIMEOUT", { doc: "export timeout, ms" }),
  otelTracesTimeout: string("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", { doc: "traces export timeout, ms" }),
  otelCompression: string("OTEL_EXPORTER_OTLP_COMPRESSION", { doc: "gzip or none" }),
  otelTracesCompression: string("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", { doc: "gzip or none" }),
  otelServiceName: string("OTEL_SERVICE_NAME", {
    doc: "service.name of the spans (default: the service's name)",
  }),
  otelSampler: string("OTEL_TRACES_SAMPLER", { doc: "sampler (default parentbased_always_on)" }),
  otelSamplerArg: string("OTEL_TRACES_SAMPLER_ARG", { doc: "ratio 0..1 of the traceidratio samplers" }),
  otelBspDelay: string("OTEL_BSP_SCHEDULE_DELAY", { doc: "batch export delay, ms (default 5000)" }),
  otelBspQueue: string("OTEL_BSP_MAX_QUEUE_SIZE", { doc: "span queue size (default 2048)" }),
  otelBspBatch: string("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", { doc: "spans per export (default 512)" }),
  otelBspTimeout: string("OTEL_BSP_EXPORT_TIMEOUT", { doc: "batch export timeout, ms (default 30000)" }),
});

/** The parsed OTEL_* values back under their own names, for @tkdb/service's startTracing. */
export function otelVariables(v: ConfigOf<typeof otelEnv>): Env {
  const out: Record<string, string> = {};
  for (const [k, spec] of Object.entries(otelEnv)) {
    const value = (v as Record<string, unknown>)[k];
    if (value !== undefined) out[spec.name] = String(value);
  }
  return out;
}
