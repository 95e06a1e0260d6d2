import { describe, expect, it } from "vitest";
import { RootKeyCache } from "../src/root-key-cache.js";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

/** An opener that counts its calls and keeps every array it handed out. */
function opener(fill: number) {
  const made: Uint8Array[] = [];
  return {
    made,
    open: () => {
      const k = bytes(32, fill);
      made.push(k);
      return k;
    },
  };
}

describe("RootKeyCache", () => {
  it("opens a sealed root key once and then answers copies that the caller may wipe", () => {
    const c = new RootKeyCache();
    const o = opener(7);
    const kid = bytes(16, 1);
    const sealed = bytes(60, 2);
    const a = c.get("1", kid, sealed, o.open);
    a.fill(0); // the caller wipes its copy, as tokens.ts does
    const b = c.get("1", kid, sealed, o.open);
    expect(o.made).toHaveLength(1);
    expect(b).toEqual(bytes(32, 7));
    expect(b).not.toBe(o.made[0]);
  });

  it("opens again, and zeroes the old key, when the sealed bytes changed (a re-seal under a new KEK)", () => {
    const c = new RootKeyCache();
    const o = opener(7);
    const kid = bytes(16, 1);
    c.get("1", kid, bytes(60, 2), o.open);
    c.get("1", kid, bytes(60, 3), o.open);
    expect(o.made).toHaveLength(2);
    expect(o.made[0]).toEqual(bytes(32, 0));
    expect(o.made[1]).toEqual(bytes(32, 7));
  });

  it("never answers a key cached for another org under the same key id", () => {
    const c = new RootKeyCache();
    const o = opener(7);
    c.get("1", bytes(16, 1), bytes(60, 2), o.open);
    c.get("2", bytes(16, 1), bytes(60, 2), o.open);
    expect(o.made).toHaveLength(2);
  });

  it("holds a key no longer than its TTL and zeroes it when it expires", () => {
    let t = 0;
    const c = new RootKeyCache({ ttlMs: 1_000, now: () => t });
    const o = opener(7);
    c.get("1", bytes(16, 1), bytes(60, 2), o.open);
    t = 999;
    c.get("1", bytes(16, 1), bytes(60, 2), o.open);
    expect(o.made).toHaveLength(1);
    t = 1_000;
    c.get("1", bytes(16, 1), bytes(60, 2), o.open);
    expect(o.made).toHaveLength(2);
    expect(o.made[0]).toEqual(bytes(32, 0));
    t = 5_000;
    c.sweep();
    expect(c.size).toBe(0);
    expect(o.made[1]).toEqual(bytes(32, 0));
  });

  it("keeps at most `max` keys, evicting (and zeroing) the least recently used", () => {
    const c = new RootKeyCache({ max: 2 });
    const o = opener(7);
    const sealed = bytes(60, 2);
    c.get("1", bytes(16, 1), sealed, o.open);
    c.get("2", bytes(16, 2), sealed, o.open);
    c.get("1", bytes(16, 1), sealed, o.open); // org 1 is now the most recent
    c.get("3", bytes(16, 3), sealed, o.open); // evicts org 2
    expect(c.size).toBe(2);
    expect(o.made).toHaveLength(3);
    expect(o.made[1]).toEqual(bytes(32, 0));
    expect(o.made[0]).toEqual(bytes(32, 7));
    c.clear();
    expect(c.size).toBe(0);
    expect(o.made.every((k) => k.every((x) => x === 0))).toBe(true);
  });

  it("caches nothing when opening fails", () => {
    const c = new RootKeyCache();
    expect(() =>
      c.get("1", bytes(16, 1), bytes(60, 2), () => {
        throw new Error("corrupt");
      }),
    ).toThrow("corrupt");
    expect(c.size).toBe(0);
  });
});
