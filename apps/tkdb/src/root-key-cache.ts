/**
 * Unsealed org root keys kept in memory for a short while, so a verify or discharge does not open
 * the sealed key (KEK subkey and AEAD) on every call.
 *
 * - Keyed by org and key id (both bound into the seal) and checked against the sealed bytes it was
 *   opened from, so a hit is exactly what opening the row would give: a root key
 *   re-sealed under a new KEK (`tkdb kek rotate`) is a miss and is opened again; the row itself is
 *   still read on every call (one prepared lookup), so a retired or deleted key stops working at
 *   once, on the primary and on every replica, whatever is cached.
 * - Bounded: at most `max` keys (least recently used evicted first) and each at most `ttlMs` old
 *   (an unref'd sweep runs while the cache holds any key, so an idle process drops them too).
 * - The cache keeps the array `open()` returned and zeroes it when it leaves (evicted, expired,
 *   replaced, cleared). Callers always get a copy, which they wipe as before.
 */
export interface RootKeyCacheOptions {
  /** Keys held at most (default 1024). */
  max?: number;
  /** Longest time a key is held after it was opened, ms (default 60 000). */
  ttlMs?: number;
  now?: () => number;
}

interface Entry {
  sealed: Uint8Array;
  key: Uint8Array;
  expires: number;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class RootKeyCache {
  // Map order is recency order (a hit re-inserts): the first entry is the least recently used.
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(opts: RootKeyCacheOptions = {}) {
    this.#max = opts.max ?? 1024;
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
    if (!(Number.isSafeInteger(this.#max) && this.#max > 0))
      throw new RangeError("max must be a positive integer");
    if (!(this.#ttlMs > 0)) throw new RangeError("ttlMs must be positive");
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * A copy of `org`'s root key `kid` sealed as `sealed`: from the cache when it was opened from the same
   * sealed bytes less than ttlMs ago, otherwise `open()` (which throws as it likes; nothing is
   * cached then). The caller wipes the copy.
   */
  get(org: string, kid: Uint8Array, sealed: Uint8Array, open: () => Uint8Array): Uint8Array {
    const id = `${org}/${hex(kid)}`;
    const t = this.#now();
    const hit = this.#entries.get(id);
    if (hit !== undefined) {
      this.#entries.delete(id);
      if (hit.expires > t && sameBytes(hit.sealed, sealed)) {
        this.#entries.set(id, hit);
        return Uint8Array.from(hit.key);
      }
      hit.key.fill(0);
    }
    const key = open();
    this.#entries.set(id, {
      sealed: Uint8Array.from(sealed),
      key,
      expires: t + this.#ttlMs,
    });
    while (this.#entries.size > this.#max) {
      const [oldest, e] = this.#entries.entries().next().value as [string, Entry];
      e.key.fill(0);
      this.#entries.delete(oldest);
    }
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.sweep(), Math.max(1_000, this.#ttlMs / 4));
      this.#sweeper.unref?.();
    }
    return Uint8Array.from(key);
  }

  /** Drops (and zeroes) the keys past their TTL; the sweep stops once the cache is empty. */
  sweep(): void {
    const t = this.#now();
    for (const [id, e] of this.#entries)
      if (e.expires <= t) {
        e.key.fill(0);
        this.#entries.delete(id);
      }
    if (this.#entries.size === 0) this.#stopSweeper();
  }

  /** Drops (and zeroes) every key. */
  clear(): void {
    for (const e of this.#entries.values()) e.key.fill(0);
    this.#entries.clear();
    this.#stopSweeper();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
