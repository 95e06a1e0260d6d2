/**
 * The standard OTEL_* variables, read from the env object the app passes (never process.env),
 * per the OpenTelemetry "SDK environment variables" and "OTLP exporter" specifications. Only what
 * tracing needs; values that would configure something we do not run are ignored.
 *
 * | Variable | Use |
 * |---|---|
 * | OTEL_SDK_DISABLED | "true" turns tracing off |
 * | OTEL_TRACES_EXPORTER | "none" turns tracing off; otherwise OTLP |
 * | OTEL_EXPORTER_OTLP_TRACES_ENDPOINT | full URL of the traces endpoint (used as is) |
 * | OTEL_EXPORTER_OTLP_ENDPOINT | base URL; "/v1/traces" is appended |
 * | OTEL_EXPORTER_OTLP_[TRACES_]HEADERS | `k=v,k2=v2` (values URL-decoded), e.g. an API key |
 * | OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT | export timeout, ms (default 10000) |
 * | OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION | gzip or none |
 * | OTEL_SERVICE_NAME | overrides the service.name the app gives |
 * | OTEL_TRACES_SAMPLER / _ARG | always_on, always_off, traceidratio, parentbased_* (default parentbased_always_on) |
 * | OTEL_BSP_SCHEDULE_DELAY, _MAX_QUEUE_SIZE, _MAX_EXPORT_BATCH_SIZE, _EXPORT_TIMEOUT | the batch processor |
 *
 * Tracing is on only when an endpoint is set and neither switch turns it off. Errors name the
 * variable, never its value (headers often hold API keys; URLs may hold credentials).
 */
import type { Env } from "../config.js";
import { ConfigError } from "../errors.js";

export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

export interface OtlpTracingConfig {
  /** the traces endpoint URL */
  url: string;
  headers: Record<string, string>;
  timeoutMillis: number;
  compression: "gzip" | "none";
  serviceName: string;
  sampler: SamplerName;
  /** ratio for the *traceidratio samplers, 0..1 */
  samplerRatio: number;
  batch: {
    scheduledDelayMillis: number;
    maxQueueSize: number;
    maxExportBatchSize: number;
    exportTimeoutMillis: number;
  };
}

const SAMPLERS: readonly SamplerName[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

function get(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

function bad(variable: string, problem: string): ConfigError {
  return new ConfigError([{ variable, problem }]);
}

function checkUrl(variable: string, text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad(variable, "must be an http or https URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw bad(variable, "must be an http or https URL");
  return u.href;
}

function int(env: Env, variable: string, dflt: number, min: number, max: number): number {
  const v = get(env, variable);
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw bad(variable, `must be an integer ${min}..${max}`);
  }
  return Number(v);
}

function headers(env: Env, variable: string): Record<string, string> {
  const v = get(env, variable);
  const out: Record<string, string> = {};
  if (v === undefined) return out;
  for (const pair of v.split(",")) {
    if (pair.trim() === "") continue;
    const i = pair.indexOf("=");
    const key = i < 0 ? "" : pair.slice(0, i).trim();
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key)) throw bad(variable, "must be a list of key=value pairs");
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(i + 1).trim());
    } catch {
      throw bad(variable, "holds a value that is not URL-encoded");
    }
    if (/[\r\n\0]/.test(value)) throw bad(variable, "holds a value with a line break");
    out[key.toLowerCase()] = value;
  }
  return out;
}

/** Tracing settings from `env`, or undefined when tracing is off. */
export function otlpTracingFromEnv(env: Env, serviceName: string): OtlpTracingConfig | undefined {
  if (get(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined;
  if (get(env, "OTEL_TRACES_EXPORTER")?.toLowerCase() === "none") return undefined;
  const specific = get(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const base = get(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  let url: string;
  if (specific !== undefined) url = checkUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", specific);
  else if (base !== undefined) {
    const b = checkUrl("OTEL_EXPORTER_OTLP_ENDPOINT", base);
    url = `${b.endsWith("/") ? b : `${b}/`}v1/traces`;
  } else return undefined;

  const sampler = (get(env, "OTEL_TRACES_SAMPLER") ?? "parentbased_always_on").toLowerCase() as SamplerName;
  if (!SAMPLERS.includes(sampler)) throw bad("OTEL_TRACES_SAMPLER", `must be one of ${SAMPLERS.join(", ")}`);
  const ratioText = get(env, "OTEL_TRACES_SAMPLER_ARG");
  const samplerRatio = ratioText === undefined ? 1 : Number(ratioText);
  if (!Number.isFinite(samplerRatio) || samplerRatio < 0 || samplerRatio > 1) {
    throw bad("OTEL_TRACES_SAMPLER_ARG", "must be a number 0..1");
  }
  const compression = (
    get(env, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION") ??
    get(env, "OTEL_EXPORTER_OTLP_COMPRESSION") ??
    "none"
  ).toLowerCase();
  if (compression !== "gzip" && compression !== "none") {
    throw bad("OTEL_EXPORTER_OTLP_COMPRESSION", "must be gzip or none");
  }
  const timeoutVar = get(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
    ? "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
    : "OTEL_EXPORTER_OTLP_TIMEOUT";
  const maxQueueSize = int(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1_000_000);
  return {
    url,
    headers: {
      ...headers(env, "OTEL_EXPORTER_OTLP_HEADERS"),
      ...headers(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
    },
    timeoutMillis: int(env, timeoutVar, 10_000, 1, 600_000),
    compression,
    serviceName: get(env, "OTEL_SERVICE_NAME") ?? serviceName,
    sampler,
    samplerRatio,
    batch: {
      scheduledDelayMillis: int(env, "OTEL_BSP_SCHEDULE_DELAY", 5_000, 0, 600_000),
      maxQueueSize,
      maxExportBatchSize: Math.min(
        maxQueueSize,
        int(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 1_000_000),
      ),
      exportTimeoutMillis: int(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000, 1, 600_000),
    },
  };
}
