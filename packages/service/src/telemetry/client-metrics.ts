/**
 * Metrics of a tkdb verification client running inside a service: `@tkdb/client`'s
 * CachingVerifier (cache hits, misses, evictions and revocation-feed lag), or any follower of
 * tkdb's revocation feed (petsem's TkdbRevocationFeed: feed lag only).
 *
 * `@tkdb/client` does not depend on prom-client: it keeps plain counters and a lag accessor, and
 * this module reads them at scrape time (prom-client `collect()`), so nothing runs between scrapes.
 * The series carry no label but `event` (hit, miss, evict): never a nonce, org, app or token.
 *
 * - `tkdb_client_cache_events_total{event="hit"|"miss"|"evict"}`: verifications answered from
 *   the cache, verifications that went to tkdb, and cache entries pushed out by its bounds
 *   (revocation pruning and fail-closed drops are not evictions).
 * - `tkdb_client_feed_lag_seconds`: seconds since the last successful poll of tkdb's revocation
 *   feed started (what the client's fail-closed threshold is compared with); +Inf until the first
 *   successful poll, so an alert on `> threshold` fires for a client that never heard the feed.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { ServiceMetrics } from "./metrics.js";

/** What a verification client exposes (CachingVerifier has this shape; no import of @tkdb/client). */
export interface VerifierMetricsSource {
  /** Seconds since the last successful feed poll started; Infinity (or undefined) if never. */
  feedLagSeconds(): number | undefined;
  /** Cumulative hit and miss counts (CachingVerifier.stats); absent for a feed-only follower. */
  readonly stats?: { readonly hits: number; readonly misses: number };
  /** The cache, for its cumulative eviction count (CachingVerifier.cache). */
  readonly cache?: { readonly evictions: number };
}

export const CLIENT_CACHE_EVENTS = "tkdb_client_cache_events_total";
export const CLIENT_FEED_LAG = "tkdb_client_feed_lag_seconds";

function count(n: unknown): number {
  return typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : 0;
}

/**
 * Registers the client series on `target` (a service's metrics or a prom-client Registry), read
 * from `source` at each scrape. The cache counter is registered only when the source has `stats`.
 * One source per registry: a second call throws (prom-client refuses a duplicate name).
 */
export function registerVerifierMetrics(
  target: ServiceMetrics | Registry,
  source: VerifierMetricsSource,
): void {
  const registry: Registry = "registry" in target ? target.registry : target;
  if (source.stats !== undefined) {
    const stats = source.stats;
    const cache = source.cache;
    new Counter({
      name: CLIENT_CACHE_EVENTS,
      help: "tkdb verification cache: hit (answered locally), miss (asked tkdb), evict (pushed out by the cache's bounds)",
      labelNames: ["event"] as const,
      registers: [registry],
      collect() {
        // The source's counters are cumulative and only grow: mirror them.
        this.reset();
        this.inc({ event: "hit" }, count(stats.hits));
        this.inc({ event: "miss" }, count(stats.misses));
        this.inc({ event: "evict" }, count(cache?.evictions));
      },
    });
  }
  new Gauge({
    name: CLIENT_FEED_LAG,
    help: "seconds since the last successful poll of tkdb's revocation feed started (+Inf: none yet); past the fail-closed threshold the client refuses",
    registers: [registry],
    collect() {
      let v: number | undefined;
      try {
        v = source.feedLagSeconds();
      } catch {
        v = undefined;
      }
      // Never heard is +Inf, not NaN: an alert on lag > threshold must fire for it.
      this.set(typeof v === "number" && !Number.isNaN(v) ? Math.max(0, v) : Number.POSITIVE_INFINITY);
    },
  });
}
