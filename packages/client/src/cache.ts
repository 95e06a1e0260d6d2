/**
 * A bounded verification cache (entries and bytes, least recently used first out), indexed by the
 * nonces a verification depended on so that one revoked nonce prunes its whole lineage.
 */
import type { Caveat } from "@tkdb/macaroon";
import type { VerifiedAncestor } from "./chain.js";

export interface CacheEntry {
  /** Nonce id of the permission token: every descendant shares it. */
  readonly nonceId: string;
  /** Fingerprint of the discharges the authority verified it with. */
  readonly dischargeKey: string;
  /** Nonce ids of the permission token and of its discharges: revoking any prunes the entry. */
  readonly dependsOn: readonly string[];
  readonly ancestor: VerifiedAncestor;
  /** The verified caveat set the authority returned. */
  readonly caveats: readonly Caveat[];
  /** Approximate memory held, in bytes. */
  readonly bytes: number;
}

export interface CacheLimits {
  /** Default 10 000. */
  maxEntries?: number;
  /** Default 16 MiB. */
  maxBytes?: number;
  /** Cached ancestors kept per nonce (one lineage may fork). Default 8. */
  maxPerNonce?: number;
}

export function entrySize(ancestor: VerifiedAncestor, caveatCount: number, ids: readonly string[]): number {
  let n = 256 + ancestor.tail.length + caveatCount * 96;
  for (const p of ancestor.packed) n += p.length + 32;
  for (const id of ids) n += id.length * 2;
  return n;
}

export class VerificationCache {
  private readonly lru = new Map<CacheEntry, true>();
  private readonly byNonce = new Map<string, Set<CacheEntry>>();
  private total = 0;
  private evicted = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxPerNonce: number;

  constructor(limits: CacheLimits = {}) {
    this.maxEntries = limits.maxEntries ?? 10_000;
    this.maxBytes = limits.maxBytes ?? 16 * 1024 * 1024;
    this.maxPerNonce = limits.maxPerNonce ?? 8;
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.total;
  }

  /**
   * Entries pushed out to make room since construction (the entry, byte or per-nonce bound), for
   * metrics. Revocation pruning, remove() and clear() are not evictions.
   */
  get evictions(): number {
    return this.evicted;
  }

  /** Entries for this permission nonce and discharge set, most recently used first. */
  candidates(nonceId: string, dischargeKey: string): CacheEntry[] {
    const set = this.byNonce.get(nonceId);
    if (set === undefined) return [];
    const out: CacheEntry[] = [];
    for (const e of set) if (e.nonceId === nonceId && e.dischargeKey === dischargeKey) out.push(e);
    return out.reverse();
  }

  touch(e: CacheEntry): void {
    if (this.lru.delete(e)) this.lru.set(e, true);
  }

  add(e: CacheEntry): void {
    if (e.bytes > this.maxBytes) return;
    const siblings = this.candidates(e.nonceId, e.dischargeKey);
    if (siblings.length >= this.maxPerNonce) this.evict(siblings.at(-1) as CacheEntry);
    this.lru.set(e, true);
    this.total += e.bytes;
    for (const id of e.dependsOn) {
      let s = this.byNonce.get(id);
      if (s === undefined) {
        s = new Set();
        this.byNonce.set(id, s);
      }
      s.add(e);
    }
    while (this.lru.size > this.maxEntries || this.total > this.maxBytes) {
      const oldest = this.lru.keys().next().value as CacheEntry;
      this.evict(oldest);
    }
  }

  private evict(e: CacheEntry): void {
    if (this.lru.has(e)) this.evicted++;
    this.remove(e);
  }

  remove(e: CacheEntry): void {
    if (!this.lru.delete(e)) return;
    this.total -= e.bytes;
    for (const id of e.dependsOn) {
      const s = this.byNonce.get(id);
      if (s === undefined) continue;
      s.delete(e);
      if (s.size === 0) this.byNonce.delete(id);
    }
  }

  /** Drops every entry that depended on this nonce; returns how many. */
  pruneNonce(nonceId: string): number {
    const s = this.byNonce.get(nonceId);
    if (s === undefined) return 0;
    const victims = [...s];
    for (const e of victims) this.remove(e);
    return victims.length;
  }

  clear(): void {
    this.lru.clear();
    this.byNonce.clear();
    this.total = 0;
  }
}
