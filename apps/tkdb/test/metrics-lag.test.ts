/**
 * tkdb's lag gauges on GET /metrics (issue 14, item 4): the audit log's checkpoint age and the
 * time since Litestream last shipped, read from real state, NaN (unknown) where there is none.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { watchLitestream } from "../src/metrics.js";
import { startTkdb } from "../src/server.js";
import { fixture, tempDir } from "./helpers.js";

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

function gauge(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not in the scrape`);
  return Number(line.slice(name.length + 1).replace(/^Nan$/, "NaN"));
}

describe("tkdb lag gauges", () => {
  it("audit lag is unknown before the node's first audit checkpoint, then the age of the last one (written at close)", async () => {
    const fx = fixture(t.dir);
    const first = await startTkdb({ ...fx.config, metricsPort: 0 });
    const before = await (await fetch(first.metricsUrl as string)).text();
    await first.close(); // the audit log writes a checkpoint on close
    expect(gauge(before, "tkdb_audit_lag_seconds")).toBeNaN();
    const again = await startTkdb({ ...fx.config, metricsPort: 0 });
    try {
      const age = gauge(await (await fetch(again.metricsUrl as string)).text(), "tkdb_audit_lag_seconds");
      expect(Number.isFinite(age)).toBe(true);
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(600);
    } finally {
      await again.close();
    }
  }, 60_000);

  it("Litestream lag is NaN until this node's Litestream logs a shipped segment, then counts from it", async () => {
    const fx = fixture(t.dir);
    const h = await startTkdb({ ...fx.config, metricsPort: 0 });
    try {
      const scrape = async () => (await fetch(h.metricsUrl as string)).text();
      expect(gauge(await scrape(), "tkdb_litestream_lag_seconds")).toBeNaN();
      const passedOn: string[] = [];
      const onLog = watchLitestream(fx.config.dbPath, (l) => passedOn.push(l));
      onLog('time=2026-12-02T15:00:00Z level=INFO msg="write wal segment" db=x replica=file');
      expect(gauge(await scrape(), "tkdb_litestream_lag_seconds")).toBeNaN(); // started, not shipped
      onLog('time=2026-12-02T15:00:00Z level=INFO msg="wal segment written" db=x replica=file');
      const lag = gauge(await scrape(), "tkdb_litestream_lag_seconds");
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThan(600);
      expect(passedOn).toHaveLength(2); // every line still reaches tkdb's log
    } finally {
      await h.close();
    }
  }, 60_000);
});
