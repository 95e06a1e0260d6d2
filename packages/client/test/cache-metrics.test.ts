import { encodeAuthorizationHeader, Macaroon, ValidityWindow } from "@tkdb/macaroon";
import { describe, expect, it } from "vitest";
import { type CacheEntry, VerificationCache } from "../src/cache.js";
import type { VerifiedAncestor } from "../src/chain.js";
import { CachingVerifier } from "../src/verifier.js";
import { TestAuthority } from "./authority.js";

const T0 = 1_800_000_000_000;

function entry(nonceId: string, dischargeKey = "", bytes = 100): CacheEntry {
  const ancestor: VerifiedAncestor = { tail: new Uint8Array(32), packed: [], ownCount: 0 };
  return { nonceId, dischargeKey, dependsOn: [nonceId], ancestor, caveats: [], bytes };
}

describe("VerificationCache eviction counter", () => {
  it("counts entries pushed out by the entry bound, oldest first", () => {
    const c = new VerificationCache({ maxEntries: 2 });
    c.add(entry("a"));
    c.add(entry("b"));
    expect(c.evictions).toBe(0);
    c.add(entry("c"));
    c.add(entry("d"));
    expect(c.evictions).toBe(2);
    expect(c.size).toBe(2);
  });

  it("counts entries pushed out by the byte bound and by the per-nonce bound", () => {
    const bytes = new VerificationCache({ maxBytes: 250 });
    bytes.add(entry("a", "", 100));
    bytes.add(entry("b", "", 100));
    bytes.add(entry("c", "", 100));
    expect(bytes.evictions).toBe(1);
    const perNonce = new VerificationCache({ maxPerNonce: 1 });
    perNonce.add(entry("n"));
    perNonce.add(entry("n"));
    expect(perNonce.evictions).toBe(1);
    expect(perNonce.size).toBe(1);
  });

  it("does not count revocation pruning, remove() or clear() as evictions", () => {
    const c = new VerificationCache({ maxEntries: 10 });
    const a = entry("a");
    c.add(a);
    c.add(entry("b"));
    c.add(entry("c"));
    c.remove(a);
    expect(c.pruneNonce("b")).toBe(1);
    c.clear();
    expect(c.evictions).toBe(0);
  });

  it("does not count an entry too large to cache as an eviction", () => {
    const c = new VerificationCache({ maxBytes: 50 });
    c.add(entry("a", "", 100));
    expect(c.size).toBe(0);
    expect(c.evictions).toBe(0);
  });
});

describe("CachingVerifier metrics accessors", () => {
  function setup(maxEntries = 1000) {
    const clock = { now: T0 };
    const authority = new TestAuthority(clock);
    const verifier = new CachingVerifier({
      authority,
      now: () => clock.now,
      failClosedAfterMs: 30_000,
      cache: { maxEntries },
    });
    return { clock, authority, verifier };
  }
  const header = (m: Macaroon) => encodeAuthorizationHeader([m]);
  const child = (m: Macaroon, notAfterSec: number) => {
    const c = Macaroon.decodeUnverified(m.encode());
    c.add(new ValidityWindow(0n, BigInt(notAfterSec)));
    return c;
  };

  it("feed lag is Infinity before the first successful poll and counts from that poll's start", async () => {
    const { clock, authority, verifier } = setup();
    expect(verifier.feedLagSeconds()).toBe(Number.POSITIVE_INFINITY);
    expect(verifier.lastFeedOkAt).toBeUndefined();
    expect(await verifier.poll()).toBe(true);
    expect(verifier.lastFeedOkAt).toBe(T0);
    clock.now += 7_500;
    expect(verifier.feedLagSeconds()).toBe(7.5);
    authority.feedUp = false;
    expect(await verifier.poll()).toBe(false); // a failed poll does not reset the lag
    clock.now += 2_500;
    expect(verifier.feedLagSeconds()).toBe(10);
  });

  it("stats count hits and misses and the cache counts evictions, stats keeping its old fields", async () => {
    const { clock, authority, verifier } = setup(1);
    await verifier.poll();
    const a = authority.mint();
    const b = authority.mint();
    await verifier.verify(header(a)); // miss, cached
    await verifier.verify(header(child(a, clock.now / 1000 + 60))); // hit
    await verifier.verify(header(b)); // miss, evicts a
    await verifier.verify(header(child(a, clock.now / 1000 + 60))); // miss: a was evicted
    expect(verifier.stats).toMatchObject({ hits: 1, misses: 3, online: 3, dropped: 0, epochs: 0 });
    expect(verifier.cache.evictions).toBe(2); // a pushed out by b, then b by a again
  });
});
