import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { registerVerifierMetrics } from "../src/telemetry/client-metrics.js";
import { AUDIT_CHECKPOINT_FILE, auditCheckpointAgeSeconds, litestreamLag } from "../src/telemetry/lag.js";
import { createServiceMetrics } from "../src/telemetry/metrics.js";

/** A verification client as CachingVerifier exposes it: cumulative counters and a lag accessor. */
function fakeVerifier() {
  const v = {
    stats: { hits: 0, misses: 0, online: 0, dropped: 0, epochs: 0 },
    cache: { evictions: 0 },
    lag: Number.POSITIVE_INFINITY as number,
    feedLagSeconds: () => v.lag,
  };
  return v;
}

describe("registerVerifierMetrics: @tkdb/client's counters as Prometheus series", () => {
  it("scrapes hits, misses and evictions as tkdb_client_cache_events_total{event} with their current values", async () => {
    const metrics = createServiceMetrics({ service: "petsem", ops: ["resolve"], processMetrics: false });
    const v = fakeVerifier();
    registerVerifierMetrics(metrics, v);
    let text = await metrics.text();
    expect(text).toContain('tkdb_client_cache_events_total{event="hit"} 0');
    v.stats.hits = 5;
    v.stats.misses = 2;
    v.cache.evictions = 1;
    text = await metrics.text();
    expect(text).toContain('tkdb_client_cache_events_total{event="hit"} 5');
    expect(text).toContain('tkdb_client_cache_events_total{event="miss"} 2');
    expect(text).toContain('tkdb_client_cache_events_total{event="evict"} 1');
    v.stats.hits = 9;
    text = await metrics.text();
    expect(text).toContain('tkdb_client_cache_events_total{event="hit"} 9'); // mirrored, not summed
    expect(text).toContain("# TYPE tkdb_client_cache_events_total counter");
  });

  it("feed lag reads +Inf before the first successful poll (so an alert fires), then the seconds since it", async () => {
    const registry = new Registry();
    const v = fakeVerifier();
    registerVerifierMetrics(registry, v);
    expect(await registry.metrics()).toContain("tkdb_client_feed_lag_seconds +Inf");
    v.lag = 3.25;
    expect(await registry.metrics()).toContain("tkdb_client_feed_lag_seconds 3.25");
  });

  it("a feed-only follower (no stats) exposes the lag and no cache series", async () => {
    const registry = new Registry();
    registerVerifierMetrics(registry, { feedLagSeconds: () => 1 });
    const text = await registry.metrics();
    expect(text).toContain("tkdb_client_feed_lag_seconds 1");
    expect(text).not.toContain("tkdb_client_cache_events_total");
  });

  it("a second client on the same registry is refused rather than silently merged", () => {
    const registry = new Registry();
    registerVerifierMetrics(registry, { feedLagSeconds: () => 1 });
    expect(() => registerVerifierMetrics(registry, { feedLagSeconds: () => 2 })).toThrow();
  });
});

describe("lag gauges: audit checkpoint age and Litestream shipping age", () => {
  const dir = mkdtempSync(join(tmpdir(), "lag-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("audit lag is the age of the checkpoint sidecar, unknown (NaN at scrape) before the first checkpoint", async () => {
    const now = 1_800_000_000_000;
    expect(auditCheckpointAgeSeconds(dir, () => now)).toBeUndefined();
    const file = join(dir, AUDIT_CHECKPOINT_FILE);
    writeFileSync(file, '{"kind":"head"}\n');
    utimesSync(file, (now - 42_000) / 1000, (now - 42_000) / 1000);
    expect(auditCheckpointAgeSeconds(dir, () => now)).toBeCloseTo(42, 3);

    const metrics = createServiceMetrics({ service: "tkdb", ops: ["verify"], processMetrics: false });
    metrics.hooks.auditLagSeconds(() => auditCheckpointAgeSeconds(join(dir, "missing")));
    expect(await metrics.text()).toMatch(/^tkdb_audit_lag_seconds nan$/im); // prom-client writes "Nan"
  });

  it("Litestream lag counts from the last 'wal segment written' or 'snapshot written' line, unknown before", () => {
    const clock = { now: 1_000_000 };
    const lag = litestreamLag(() => clock.now);
    expect(lag.seconds()).toBeUndefined();
    lag.onLog('time=2026-12-02T15:00:00Z level=INFO msg="replicating to" name=file');
    expect(lag.seconds()).toBeUndefined();
    lag.onLog('time=2026-12-02T15:00:01Z level=INFO msg="snapshot written" db=/data/x.db replica=file');
    clock.now += 4_000;
    expect(lag.seconds()).toBe(4);
    lag.onLog('time=2026-12-02T15:00:05Z level=INFO msg="wal segment written" db=/data/x.db replica=file');
    clock.now += 500;
    expect(lag.seconds()).toBe(0.5);
    lag.onLog('time=2026-12-02T15:00:06Z level=INFO msg="write wal segment" db=/data/x.db replica=file');
    clock.now += 500;
    expect(lag.seconds()).toBe(1); // starting a write is not shipping it
  });
});
