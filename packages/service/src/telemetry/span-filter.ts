/**
 * What leaves the process in a span: an allow-list, enforced on the way out (a SpanExporter that
 * wraps the OTLP one), so nothing set by any code (ours, a library's, a future instrumentation)
 * reaches the collector unless it is listed.
 *
 * - attributes: only allow-listed keys; values numbers, booleans, or short strings that do not
 *   look like material (log-redact.ts `containsMaterial`: tokens, FlyV1 headers, long hex/base64);
 * - events and links: the same filter on their attributes; event names must be plain identifiers
 *   (exception events, whose message and stack may quote input, lose their attributes);
 * - status: the code only, never the message; span names that are not plain identifiers become
 *   "span".
 */
import type { Attributes, AttributeValue, Link } from "@opentelemetry/api";
import type { ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter, TimedEvent } from "@opentelemetry/sdk-trace-base";
import { containsMaterial, isSecretFieldName } from "../log-redact.js";

/** Every span may carry these (OpenTelemetry RPC semantic conventions, plus our outcome). */
export const BASE_SPAN_ATTRIBUTES: readonly string[] = Object.freeze([
  "rpc.system",
  "rpc.service",
  "rpc.method",
  "rpc.outcome",
  "error.type",
]);

const ATTR_NAME = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){0,4}$/;
const SPAN_NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;
const MAX_STRING = 128;

/** Checks a service's extra attribute names: plain, and not a name that says "secret". */
export function allowList(extra: readonly string[] = []): ReadonlySet<string> {
  for (const name of extra) {
    if (typeof name !== "string" || name.length > 64 || !ATTR_NAME.test(name)) {
      throw new TypeError("span attribute names must be like tkdb.batch_size");
    }
    if (isSecretFieldName(name))
      throw new TypeError(`span attribute ${name} names material; it cannot be exported`);
  }
  return new Set([...BASE_SPAN_ATTRIBUTES, ...extra]);
}

function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

function safeValue(v: AttributeValue | undefined): boolean {
  if (typeof v === "number") return Number.isFinite(v);
  if (typeof v === "boolean") return true;
  return typeof v === "string" && v.length <= MAX_STRING && !hasControlChar(v) && !containsMaterial(v);
}

export function filterAttributes(attrs: Attributes | undefined, allowed: ReadonlySet<string>): Attributes {
  const out: Attributes = {};
  if (attrs === undefined) return out;
  for (const [k, v] of Object.entries(attrs)) if (allowed.has(k) && safeValue(v)) out[k] = v;
  return out;
}

/** A copy of `span` with only what may leave the process. */
export function filterSpan(span: ReadableSpan, allowed: ReadonlySet<string>): ReadableSpan {
  const events: TimedEvent[] = span.events.map((e) => ({
    name: SPAN_NAME.test(e.name) ? e.name : "event",
    time: e.time,
    attributes: e.name === "exception" ? {} : filterAttributes(e.attributes, allowed),
    droppedAttributesCount: 0,
  }));
  const links: Link[] = span.links.map((l) => ({
    context: l.context,
    attributes: filterAttributes(l.attributes, allowed),
  }));
  return {
    name: SPAN_NAME.test(span.name) ? span.name : "span",
    kind: span.kind,
    spanContext: () => span.spanContext(),
    ...(span.parentSpanContext === undefined ? {} : { parentSpanContext: span.parentSpanContext }),
    startTime: span.startTime,
    endTime: span.endTime,
    status: { code: span.status.code },
    attributes: filterAttributes(span.attributes, allowed),
    links,
    events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** Wraps an exporter so it only ever sees filtered spans. */
export class AllowListSpanExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly allowed: ReadonlySet<string>,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(
      spans.map((s) => filterSpan(s, this.allowed)),
      resultCallback,
    );
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
