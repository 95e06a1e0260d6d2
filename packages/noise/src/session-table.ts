/**
 * The server's bounded table of open sessions (session mode, `session.ts`). A session lives in
 * one process only: its keys never leave memory, so two processes never reuse a (key, nonce) pair.
 *
 * Bounds: at most `maxSessions` (least recently used evicted first), at most `maxPerSource` per
 * address bucket (a source over its share evicts its own oldest session, never someone else's),
 * an idle TTL, a maximum lifetime and a maximum number of messages. A closed session's keys are
 * wiped as soon as no request that is still running needs them.
 */
import type { CipherState } from "./cipher-state.js";
import { ReplayWindow } from "./session.js";

export interface ServerSession {
  readonly id: string;
  readonly send: CipherState;
  readonly receive: CipherState;
  readonly clientKey: Uint8Array;
  readonly clientKeyBase64Url: string;
  readonly source: string;
  /** The handshake hash h after message 2 (non-secret; §11.2 channel binding), for correlation ids. */
  readonly handshakeHash: Uint8Array;
  readonly createdAt: number;
  lastUsed: number;
  /** Messages accepted so far. */
  messages: number;
  readonly window: ReplayWindow;
  /** Requests decrypted and not yet answered; keys are wiped only once this is 0. */
  inflight: number;
  closed: boolean;
  /** The transport AD per op path (`sessionAd`), built once per session and op: known ops only. */
  readonly ads: Map<string, Uint8Array>;
}

export interface SessionLimits {
  maxSessions: number;
  maxPerSource: number;
  idleTtlMs: number;
  maxLifetimeMs: number;
  maxMessages: number;
}

export class SessionTable {
  // Map order is recency order: `touch` re-inserts, so the first entry is the least recently used.
  readonly #byId = new Map<string, ServerSession>();
  readonly #bySource = new Map<string, Set<string>>();
  readonly limits: SessionLimits;

  constructor(limits: SessionLimits) {
    this.limits = limits;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** A live session, or undefined when unknown, expired or used up (then it is closed). */
  get(id: string, now: number): ServerSession | undefined {
    const s = this.#byId.get(id);
    if (s === undefined) return undefined;
    if (!this.#live(s, now)) {
      this.close(s);
      return undefined;
    }
    return s;
  }

  /** Mark a session used: it becomes the most recently used. */
  touch(s: ServerSession, now: number): void {
    s.lastUsed = now;
    if (this.#byId.delete(s.id)) this.#byId.set(s.id, s);
  }

  add(
    s: Omit<ServerSession, "lastUsed" | "messages" | "window" | "inflight" | "closed" | "ads">,
    now: number,
  ): ServerSession {
    this.#sweep(now);
    const mine = this.#bySource.get(s.source);
    if (mine !== undefined && mine.size >= this.limits.maxPerSource) {
      const oldest = mine.values().next().value as string;
      const victim = this.#byId.get(oldest);
      if (victim !== undefined) this.close(victim);
    }
    while (this.#byId.size >= this.limits.maxSessions) {
      const lru = this.#byId.values().next().value as ServerSession;
      this.close(lru);
    }
    const session: ServerSession = {
      ...s,
      lastUsed: now,
      messages: 0,
      window: new ReplayWindow(),
      inflight: 0,
      closed: false,
      ads: new Map(),
    };
    this.#byId.set(session.id, session);
    let set = this.#bySource.get(session.source);
    if (set === undefined) {
      set = new Set();
      this.#bySource.set(session.source, set);
    }
    set.add(session.id);
    return session;
  }

  /** Remove a session; its keys are wiped now, or when its last running request ends. */
  close(s: ServerSession): void {
    if (!s.closed) {
      s.closed = true;
      this.#byId.delete(s.id);
      const set = this.#bySource.get(s.source);
      set?.delete(s.id);
      if (set?.size === 0) this.#bySource.delete(s.source);
    }
    if (s.inflight === 0) {
      s.send.destroy();
      s.receive.destroy();
    }
  }

  /** A request on `s` finished: wipe the keys if the session was closed meanwhile. */
  release(s: ServerSession): void {
    s.inflight -= 1;
    if (s.closed && s.inflight === 0) this.close(s);
  }

  /** Close every session (server shutdown). */
  clear(): void {
    for (const s of [...this.#byId.values()]) this.close(s);
  }

  #live(s: ServerSession, now: number): boolean {
    return (
      now - s.lastUsed < this.limits.idleTtlMs &&
      now - s.createdAt < this.limits.maxLifetimeMs &&
      s.messages < this.limits.maxMessages
    );
  }

  /** Drop expired sessions from the least recently used end (idle ones sit there). */
  #sweep(now: number): void {
    for (const s of this.#byId.values()) {
      if (now - s.lastUsed < this.limits.idleTtlMs) break;
      this.close(s);
    }
  }
}
