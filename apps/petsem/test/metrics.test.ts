/**
 * petsem's GET /metrics (issue 14, item 4): the lag gauges read real values — its follower of
 * tkdb's revocation feed as `tkdb_client_feed_lag_seconds`, the audit log's checkpoint age, and
 * Litestream's lag (NaN: not replicating here).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningPetsem, startPetsem } from "../src/server.js";

const T0 = 1_800_000_000_000;

function gauge(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not in the scrape`);
  return Number(line.slice(name.length + 1).replace(/^Nan$/, "NaN"));
}

describe("petsem metrics: feed, audit and Litestream lag", () => {
  const dir = mkdtempSync(join(tmpdir(), "petsem-metrics-"));
  const kek = new Uint8Array(randomBytes(32));
  const noiseStaticKey = new Uint8Array(randomBytes(32));
  const clock = { now: T0 };
  const feed = { up: true };
  const source = {
    revocations: async (cursor?: string) => {
      if (!feed.up) throw new Error("tkdb unreachable");
      return { nonces: [], cursor: cursor ?? "0" };
    },
  };
  const running: RunningPetsem[] = [];
  const start = async () => {
    const p = await startPetsem({
      file: join(dir, "petsem.db"),
      kek,
      noiseStaticKey,
      unsafeTestRevocationSource: source,
      now: () => clock.now,
      port: 0,
      metricsPort: 0,
    });
    running.push(p);
    return p;
  };
  const scrape = async (p: RunningPetsem) => {
    const res = await fetch(p.metricsUrl as string);
    expect(res.status).toBe(200);
    return res.text();
  };

  afterAll(async () => {
    for (const p of running) await p.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("tkdb_client_feed_lag_seconds is the time since petsem's last successful feed poll started, growing while tkdb is unreachable", async () => {
    const p = await start();
    expect(p.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const first = gauge(await scrape(p), "tkdb_client_feed_lag_seconds");
    expect(first).toBe(0); // the first poll started at T0 and the clock has not moved
    feed.up = false;
    clock.now += 12_000;
    await p.feed?.poll(); // fails: the lag keeps counting from T0
    const text = await scrape(p);
    expect(gauge(text, "tkdb_client_feed_lag_seconds")).toBe(12);
    expect(text).not.toContain("tkdb_client_cache_events_total"); // petsem has no verification cache
    // No Litestream in this process: unknown, not a reassuring 0.
    expect(gauge(text, "petsem_litestream_lag_seconds")).toBeNaN();
    // Before the audit log's first checkpoint (at 60 s or at close) its age is unknown.
    expect(gauge(text, "petsem_audit_lag_seconds")).toBeNaN();
    feed.up = true;
    await p.feed?.poll();
    expect(gauge(await scrape(p), "tkdb_client_feed_lag_seconds")).toBe(0);
    await p.close();
  }, 60_000);

  it("petsem_audit_lag_seconds reads the age of the audit log's last checkpoint (written at the previous close)", async () => {
    const p = await start();
    const age = gauge(await scrape(p), "petsem_audit_lag_seconds");
    expect(Number.isFinite(age)).toBe(true);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(600); // written by the first test's close, moments ago
  }, 60_000);
});

describe("petsem metrics with Litestream running", () => {
  it("petsem_litestream_lag_seconds is finite once this node's Litestream has shipped its first snapshot", async () => {
    const dir = mkdtempSync(join(tmpdir(), "petsem-metrics-ls-"));
    let p: RunningPetsem | undefined;
    try {
      const replica = { replica: pathToFileURL(join(dir, "replica")).href, syncInterval: "100ms" };
      p = await startPetsem({
        dataDir: dir,
        kek: new Uint8Array(randomBytes(32)),
        noiseStaticKey: new Uint8Array(randomBytes(32)),
        litestream: replica,
        port: 0,
        metricsPort: 0,
      });
      // startPetsem returns once the replica holds a snapshot: Litestream has shipped.
      const lag = gauge(await (await fetch(p.metricsUrl as string)).text(), "petsem_litestream_lag_seconds");
      expect(Number.isFinite(lag)).toBe(true);
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThan(600);
    } finally {
      await p?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
