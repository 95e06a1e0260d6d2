/**
 * Load: bounded runs against the real services on loopback. Each run must complete every
 * operation it was given with zero errors, every answer checked; the figures (rate, p50/p99) are
 * printed, never asserted (timing depends on the machine). `RELIABILITY_LONG=1` runs the long
 * version; `npm run bench` reports the same workloads in docs/PERFORMANCE.md.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LoadResult, prepareWorkloads, runLoad, type Workloads } from "./load.js";
import { LONG, processState, rssBytes, type Stack, startStack } from "./stack.js";

const COUNT = LONG ? 20_000 : 800;
const MAX_MS = LONG ? 120_000 : 15_000;
const CONCURRENCY = 8;

let stack: Stack;
let w: Workloads;
const results: LoadResult[] = [];

beforeAll(async () => {
  stack = await startStack("load");
  w = await prepareWorkloads(stack.actors, { org: 501n, app: 1n, users: 20, secretCount: 20 });
}, 90_000);

afterAll(async () => {
  w?.stop();
  console.log(JSON.stringify({ load: results, long: LONG }));
  await stack?.stop();
}, 30_000);

async function bounded(name: keyof Omit<Workloads, "verifier" | "stop">, count = COUNT) {
  const r = await runLoad({ name, concurrency: CONCURRENCY, count, maxMs: MAX_MS, op: w[name] });
  results.push(r);
  if (r.errors > 0) {
    // Enough to tell a dead, hung or disk-bound service apart (no secrets: logs are redacted).
    for (const s of [stack.tkdb, stack.petsem])
      console.error(
        `${s.name} pid ${s.child.pid}: ${processState(s.child.pid as number)}\n${s.output().slice(-3000)}`,
      );
  }
  expect(r.errorSamples).toEqual([]);
  expect(r.errors).toBe(0);
  // Bounded by count, or by time with real progress: a run that stalls is a failure.
  expect(r.ops === count || r.ops >= count / 10).toBe(true);
  return r;
}

describe("load on loopback: every operation answered correctly, zero errors", () => {
  it(
    "tkdb verify under 8 concurrent callers",
    async () => {
      await bounded("verify");
    },
    MAX_MS + 30_000,
  );

  it(
    "tkdb discharge (an audited write each) under 8 concurrent callers",
    async () => {
      await bounded("discharge");
    },
    MAX_MS + 30_000,
  );

  it(
    "petsem resolve with a tkdb discharge under 8 concurrent callers",
    async () => {
      await bounded("resolve");
    },
    MAX_MS + 30_000,
  );

  it(
    "the whole boot path (discharge then resolve) under 8 concurrent callers",
    async () => {
      await bounded("boot", Math.ceil(COUNT / 2));
    },
    MAX_MS + 30_000,
  );

  it(
    "verification through the client cache goes online for almost none of the requests",
    async () => {
      const before = w.verifier.stats.online;
      const r = await bounded("cachedVerify", COUNT * 10);
      // Every descendant's parent was presented once while preparing: none of these needs tkdb.
      expect(w.verifier.stats.online - before).toBe(0);
      expect(r.ops).toBeGreaterThan(0);
    },
    MAX_MS + 30_000,
  );

  it("the services' memory stays bounded across the runs (RSS under 512 MiB each)", () => {
    for (const s of [stack.tkdb, stack.petsem]) {
      const pid = s.child.pid;
      expect(pid).toBeTypeOf("number");
      expect(rssBytes(pid as number)).toBeLessThan(512 * 2 ** 20);
    }
  });
});
