import { encodeAuthorizationHeader, Macaroon, PermissionError, ValidityWindow } from "@tkdb/macaroon";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TokenRefusedError } from "../src/errors.js";
import { CachingVerifier, defaultNonceId } from "../src/verifier.js";
import { TestAuthority } from "./authority.js";

const T0 = 1_800_000_000_000;

function setup(opts: { failClosedAfterMs?: number; maxEntries?: number } = {}) {
  const clock = { now: T0 };
  const authority = new TestAuthority(clock);
  const verifier = new CachingVerifier({
    authority,
    now: () => clock.now,
    failClosedAfterMs: opts.failClosedAfterMs ?? 30_000,
    cache: { maxEntries: opts.maxEntries ?? 1000 },
  });
  return { clock, authority, verifier };
}

const header = (m: Macaroon) => encodeAuthorizationHeader([m]);

function attenuate(m: Macaroon, notAfterSec: bigint): Macaroon {
  const child = Macaroon.decodeUnverified(m.encode());
  child.add(new ValidityWindow(0n, notAfterSec));
  return child;
}

describe("CachingVerifier", () => {
  it("verifies a descendant of a verified token locally, with no round trip", async () => {
    const { authority, verifier, clock } = setup();
    await verifier.poll();
    const root = authority.mint();
    const first = await verifier.verify(header(root));
    expect(first.cached).toBe(false);
    const child = attenuate(root, BigInt(clock.now / 1000 + 100));
    const second = await verifier.verify(header(child));
    expect(second.cached).toBe(true);
    expect(authority.verifyCalls).toBe(1);
    expect(second.caveats.length).toBe(first.caveats.length + 1);
  });

  it("refuses a forged descendant: appended caveat with a tail not continuing the chain", async () => {
    const { authority, verifier, clock } = setup();
    await verifier.poll();
    const root = authority.mint();
    await verifier.verify(header(root));
    const child = attenuate(root, BigInt(clock.now / 1000 + 100));
    const bytes = child.encode();
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1; // last tail byte
    const forged = Macaroon.decodeUnverified(bytes);
    await expect(verifier.verify(header(forged))).rejects.toThrow();
    expect(authority.verifyCalls).toBe(2); // the forgery missed the cache and went online
  });

  it("checks the clock on every call, cached or not: an expired descendant is refused", async () => {
    const { authority, verifier, clock } = setup();
    await verifier.poll();
    const root = authority.mint();
    await verifier.verify(header(root));
    const child = attenuate(root, BigInt(clock.now / 1000 + 10));
    expect((await verifier.verify(header(child))).cached).toBe(true);
    clock.now += 20_000;
    await verifier.poll();
    await expect(verifier.verify(header(child))).rejects.toBeInstanceOf(PermissionError);
  });

  it("a revoked parent prunes every cached descendant after the next poll", async () => {
    const { authority, verifier, clock } = setup();
    await verifier.poll();
    const root = authority.mint();
    await verifier.verify(header(root));
    const child = attenuate(root, BigInt(clock.now / 1000 + 100));
    await verifier.verify(header(child));
    expect(verifier.cache.size).toBe(1);
    authority.revoke(root);
    await verifier.poll();
    expect(verifier.cache.size).toBe(0);
    await expect(verifier.verify(header(child))).rejects.toBeInstanceOf(TokenRefusedError);
    await expect(verifier.verify(header(root))).rejects.toBeInstanceOf(TokenRefusedError);
  });

  it("drops the whole cache when the feed is silent past the threshold, and then fails closed", async () => {
    const { authority, verifier, clock } = setup({ failClosedAfterMs: 10_000 });
    await verifier.poll();
    const root = authority.mint();
    await verifier.verify(header(root));
    expect(verifier.cache.size).toBe(1);
    authority.feedUp = false;
    authority.verifyUp = false;
    clock.now += 11_000;
    expect(await verifier.poll()).toBe(false);
    expect(verifier.cache.size).toBe(0);
    await expect(verifier.verify(header(root))).rejects.toThrow(/unreachable/);
  });

  it("does not cache while the feed is stale, and caches again once it answers", async () => {
    const { authority, verifier } = setup({ failClosedAfterMs: 10_000 });
    const root = authority.mint();
    await verifier.verify(header(root)); // never polled: stale
    expect(verifier.cache.size).toBe(0);
    await verifier.poll();
    await verifier.verify(header(root));
    expect(verifier.cache.size).toBe(1);
  });

  it("bounds the cache in entries, evicting the least recently used", async () => {
    const { authority, verifier } = setup({ maxEntries: 3 });
    await verifier.poll();
    const toks = Array.from({ length: 5 }, () => authority.mint());
    for (const t of toks) await verifier.verify(header(t));
    expect(verifier.cache.size).toBe(3);
  });
});

type Action =
  | { k: "mint" }
  | { k: "attenuate"; i: number; ttl: number }
  | { k: "verify"; i: number }
  | { k: "revoke"; i: number }
  | { k: "poll" }
  | { k: "feed"; up: boolean }
  | { k: "link"; up: boolean }
  | { k: "clock"; ms: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.constant<Action>({ k: "mint" }),
  fc.record({ k: fc.constant("attenuate" as const), i: fc.nat(), ttl: fc.integer({ min: -30, max: 600 }) }),
  fc.record({ k: fc.constant("verify" as const), i: fc.nat() }),
  fc.record({ k: fc.constant("verify" as const), i: fc.nat() }),
  fc.record({ k: fc.constant("revoke" as const), i: fc.nat() }),
  fc.constant<Action>({ k: "poll" }),
  fc.constant<Action>({ k: "poll" }),
  fc.record({ k: fc.constant("feed" as const), up: fc.boolean() }),
  fc.record({ k: fc.constant("link" as const), up: fc.boolean() }),
  fc.record({ k: fc.constant("clock" as const), ms: fc.integer({ min: 0, max: 20_000 }) }),
);

describe("CachingVerifier against the uncached oracle (model-based)", () => {
  it("never accepts what the oracle refuses once the revocation was polled; a stale feed empties the cache", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 10, maxLength: 60 }), async (actions) => {
        const threshold = 15_000;
        const { authority, verifier, clock } = setup({ failClosedAfterMs: threshold });
        const toks: Macaroon[] = [];
        // Revocation is by nonce: every token of the lineage, even one attenuated later, is revoked.
        const visible = new Set<string>(); // nonces revoked and polled since
        const pending = new Set<string>(); // nonces revoked, not yet seen by a successful poll
        const nid = (m: Macaroon) => defaultNonceId(m.nonce);
        let lastPoll = Number.NEGATIVE_INFINITY;
        for (const a of actions) {
          switch (a.k) {
            case "mint":
              toks.push(authority.mint());
              break;
            case "attenuate": {
              const p = toks[a.i % Math.max(1, toks.length)];
              if (p) toks.push(attenuate(p, BigInt(Math.floor(clock.now / 1000) + a.ttl)));
              break;
            }
            case "revoke": {
              const t = toks[a.i % Math.max(1, toks.length)];
              if (t) {
                authority.revoke(t);
                if (!visible.has(nid(t))) pending.add(nid(t));
              }
              break;
            }
            case "poll":
              if (await verifier.poll()) {
                lastPoll = clock.now;
                for (const x of pending) visible.add(x);
                pending.clear();
              }
              break;
            case "feed":
              authority.feedUp = a.up;
              break;
            case "link":
              authority.verifyUp = a.up;
              break;
            case "clock":
              clock.now += a.ms;
              break;
            case "verify": {
              const t = toks[a.i % Math.max(1, toks.length)];
              if (!t) break;
              let oracleOk = true;
              try {
                authority.check(header(t));
              } catch {
                oracleOk = false;
              }
              let ok = true;
              try {
                await verifier.verify(header(t));
              } catch {
                ok = false;
              }
              if (ok && !oracleOk) {
                // The only excusable disagreement: a revocation the verifier has not polled yet.
                expect(visible.has(nid(t))).toBe(false);
                expect(pending.has(nid(t))).toBe(true);
              }
              if (visible.has(nid(t))) expect(ok).toBe(false);
              if (clock.now - lastPoll > threshold) expect(verifier.cache.size).toBe(0);
              break;
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
