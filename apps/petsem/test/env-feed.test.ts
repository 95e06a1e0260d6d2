/** env.ts: tkdb's revocation feed settings (security issue 12, item 7). */
import { isServiceError } from "@tkdb/service";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/env.js";

const BASE = { PETSEM_KEK: "11".repeat(32) };
const SERVE = { ...BASE, PETSEM_NOISE_KEY: "22".repeat(32) };
const FEED = { PETSEM_TKDB_URL: "http://127.0.0.1:7401", PETSEM_TKDB_PUBLIC_KEY: "33".repeat(32) };

function configError(env: Record<string, string>, serve = false): string {
  try {
    loadConfig(env, { requireNoiseKey: serve });
  } catch (e) {
    if (isServiceError(e, "config")) return e.message;
    throw e;
  }
  throw new Error("expected a config error");
}

describe("env: tkdb's revocation feed", () => {
  it("serve with a tkdb shared key (a petsem that can resolve) refuses to start without the feed", () => {
    const env = { ...SERVE, PETSEM_TKDB_SHARED_KEY: "44".repeat(32) };
    expect(configError(env, true)).toMatch(
      /PETSEM_TKDB_URL:? is required \(with PETSEM_TKDB_PUBLIC_KEY\) to serve/,
    );
    expect(loadConfig({ ...env, ...FEED }, { requireNoiseKey: true }).tkdbFeed).toEqual({
      urls: ["http://127.0.0.1:7401"],
      publicKey: new Uint8Array(32).fill(0x33),
      pollIntervalMs: 5000,
      failClosedAfterMs: 30000,
    });
    // without a shared key petsem cannot resolve, so it needs no feed; nor do non-serve commands
    expect(loadConfig(SERVE, { requireNoiseKey: true }).tkdbFeed).toBeNull();
    expect(loadConfig(env).tkdbFeed).toBeNull();
  });

  it("the URL and the public key go together; bad values are named, never echoed", () => {
    expect(configError({ ...BASE, PETSEM_TKDB_URL: FEED.PETSEM_TKDB_URL })).toMatch(/PETSEM_TKDB_PUBLIC_KEY/);
    expect(configError({ ...BASE, PETSEM_TKDB_PUBLIC_KEY: FEED.PETSEM_TKDB_PUBLIC_KEY })).toMatch(
      /without PETSEM_TKDB_URL/,
    );
    expect(configError({ ...BASE, ...FEED, PETSEM_TKDB_URL: "ftp://x" })).toMatch(/PETSEM_TKDB_URL/);
    expect(configError({ ...BASE, ...FEED, PETSEM_TKDB_URL: "http://a,," })).toMatch(/PETSEM_TKDB_URL/);
    expect(configError({ ...BASE, ...FEED, PETSEM_TKDB_PUBLIC_KEY: "zz" })).toMatch(/PETSEM_TKDB_PUBLIC_KEY/);
  });

  it("several endpoints, nearest first; poll and fail-closed intervals are bounded", () => {
    const c = loadConfig({
      ...BASE,
      ...FEED,
      PETSEM_TKDB_URL: "http://127.0.0.1:1, http://127.0.0.1:2",
      PETSEM_TKDB_FEED_POLL_MS: "200",
      PETSEM_TKDB_FEED_FAIL_CLOSED_MS: "1000",
    });
    expect(c.tkdbFeed?.urls).toEqual(["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    expect([c.tkdbFeed?.pollIntervalMs, c.tkdbFeed?.failClosedAfterMs]).toEqual([200, 1000]);
    expect(configError({ ...BASE, ...FEED, PETSEM_TKDB_FEED_POLL_MS: "10" })).toMatch(/POLL_MS/);
    expect(configError({ ...BASE, ...FEED, PETSEM_TKDB_FEED_FAIL_CLOSED_MS: "600000" })).toMatch(
      /FAIL_CLOSED_MS/,
    );
    expect(
      configError({
        ...BASE,
        ...FEED,
        PETSEM_TKDB_FEED_POLL_MS: "5000",
        PETSEM_TKDB_FEED_FAIL_CLOSED_MS: "4000",
      }),
    ).toMatch(/longer than/);
  });
});
