/**
 * Bounded memory of recently seen initiator ephemeral keys (msg1[0:32]). Entries expire after
 * their TTL; when the cache is full of live entries it refuses new ones ("full") rather than
 * forgetting one, because forgetting would re-open the replay window.
 */
export type ReplayVerdict = "fresh" | "replay" | "full";

export class ReplayCache {
  // Insertion order ≈ expiry order (one TTL per cache), so expired entries sit at the front.
  readonly #entries = new Map<string, number>();
  readonly #max: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Record `key` until `expiresAt` unless it is already present and live. */
  checkAndAdd(key: string, now: number, expiresAt: number): ReplayVerdict {
    this.#evictExpired(now);
    const seen = this.#entries.get(key);
    if (seen !== undefined && seen > now) return "replay";
    if (this.#entries.size >= this.#max) return "full";
    this.#entries.set(key, expiresAt);
    return "fresh";
  }

  #evictExpired(now: number): void {
    for (const [k, exp] of this.#entries) {
      if (exp > now) break;
      this.#entries.delete(k);
    }
  }
}
