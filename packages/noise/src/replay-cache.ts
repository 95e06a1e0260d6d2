/**
 * Bounded memory of recently seen initiator ephemeral keys (msg1[0:32]). Entries expire after
 * their TTL; when the cache is full of live entries it refuses new ones ("full") rather than
 * forgetting one, because forgetting would re-open the replay window.
 *
 * Every entry is charged to a source (the caller's network address bucket, `address.ts`), and one
 * source may hold at most `maxPerSource` live entries: a client flooding fresh handshakes fills its
 * own budget and gets `unavailable`, while other sources keep being served. Callers insert only
 * after the message authenticated and passed the timestamp and op checks, so a stale or misrouted
 * message never takes space.
 */
export type ReplayVerdict = "fresh" | "replay" | "full";

interface Entry {
  expiresAt: number;
  source: string;
}

export class ReplayCache {
  // Insertion order ≈ expiry order (one TTL per cache), so expired entries sit at the front.
  readonly #entries = new Map<string, Entry>();
  readonly #perSource = new Map<string, number>();
  readonly #max: number;
  readonly #maxPerSource: number;

  constructor(maxEntries: number, maxPerSource: number = maxEntries) {
    this.#max = maxEntries;
    this.#maxPerSource = Math.min(maxPerSource, maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Live entries charged to `source` (after the last eviction). */
  sizeOf(source: string): number {
    return this.#perSource.get(source) ?? 0;
  }

  /** Record `key` for `source` until `expiresAt` unless it is already present and live. */
  checkAndAdd(key: string, now: number, expiresAt: number, source = "unknown"): ReplayVerdict {
    this.#evictExpired(now);
    const seen = this.#entries.get(key);
    if (seen !== undefined && seen.expiresAt > now) return "replay";
    if (this.#entries.size >= this.#max) return "full";
    const used = this.#perSource.get(source) ?? 0;
    if (used >= this.#maxPerSource) return "full";
    this.#entries.set(key, { expiresAt, source });
    this.#perSource.set(source, used + 1);
    return "fresh";
  }

  #evictExpired(now: number): void {
    for (const [k, e] of this.#entries) {
      if (e.expiresAt > now) break;
      this.#entries.delete(k);
      const left = (this.#perSource.get(e.source) ?? 1) - 1;
      if (left <= 0) this.#perSource.delete(e.source);
      else this.#perSource.set(e.source, left);
    }
  }
}
