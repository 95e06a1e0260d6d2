import { describe, expect, it } from "vitest";
import { backoffDelay, withFailover } from "../src/retry.js";

describe("backoff", () => {
  it("full jitter stays within [0, min(max, base·2^n))", () => {
    for (let n = 0; n < 12; n++) {
      const hi = backoffDelay(n, { baseMs: 10, maxMs: 500, random: () => 0.999999 });
      expect(hi).toBeLessThan(Math.min(500, 10 * 2 ** n));
      expect(backoffDelay(n, { baseMs: 10, maxMs: 500, random: () => 0 })).toBe(0);
    }
  });

  it("retries each endpoint with growing delays, then moves on, and gives every error back", async () => {
    const slept: number[] = [];
    const tried: string[] = [];
    const err = await withFailover(
      ["a", "b"],
      async (e) => {
        tried.push(e);
        throw new Error(`down ${e}`);
      },
      () => true,
      {
        attempts: 3,
        baseMs: 100,
        maxMs: 10_000,
        random: () => 0.5,
        sleep: async (ms) => void slept.push(ms),
      },
    ).catch((e: unknown) => e);
    expect(tried).toEqual(["a", "a", "a", "b", "b", "b"]);
    expect(slept).toEqual([50, 100, 50, 100]);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors).toHaveLength(6);
  });
});
