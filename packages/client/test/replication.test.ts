/**
 * The caching verifier against a tkdb with replication (issue 14): feed epochs and `stale` replicas.
 * The authority is the in-process oracle of authority.ts, answering with tkdb's `replication` field.
 */
import { encodeAuthorizationHeader, Macaroon, ValidityWindow } from "@tkdb/macaroon";
import { NoiseRemoteError } from "@tkdb/noise";
import { describe, expect, it } from "vitest";
import { TokenRefusedError } from "../src/errors.js";
import { replicationOf } from "../src/tkdb.js";
import { CachingVerifier, type RevocationPage } from "../src/verifier.js";
import { TestAuthority } from "./authority.js";

const T0 = 1_800_000_000_000;

/** The oracle, plus tkdb's epoch and a replica that can turn `stale`. */
class ReplicatedAuthority extends TestAuthority {
  epoch = "epoch-1";
  stale = false;
  /** The heartbeat age the replica reports (its own bound may be longer than the client's). */
  ageMs = 0;
  private position() {
    return {
      epoch: this.epoch,
      seq: String(this.log.length),
      heartbeatMs: this.clock.now,
      ageMs: this.ageMs,
      primary: false,
    };
  }
  /** A restore to an older copy: the newest revocations are gone and a new epoch is minted. */
  restore(keep: number): void {
    this.log.splice(keep);
    this.epoch = `epoch-${Number(this.epoch.slice(6)) + 1}`;
  }
  override async verify(header: string) {
    if (this.stale) throw new NoiseRemoteError("stale", "replica past its bound", "rid");
    const r = await super.verify(header);
    return { ...r, replication: this.position() };
  }
  override async revocations(cursor: string | undefined): Promise<RevocationPage> {
    if (this.stale) throw new NoiseRemoteError("stale", "replica past its bound", "rid");
    return { ...(await super.revocations(cursor)), replication: this.position() };
  }
}

function setup() {
  const clock = { now: T0 };
  const authority = new ReplicatedAuthority(clock);
  const verifier = new CachingVerifier({ authority, now: () => clock.now, failClosedAfterMs: 30_000 });
  return { clock, authority, verifier };
}

const header = (m: Macaroon) => encodeAuthorizationHeader([m]);
function child(m: Macaroon, clockMs: number): Macaroon {
  const c = Macaroon.decodeUnverified(m.encode());
  c.add(new ValidityWindow(0n, BigInt(Math.floor(clockMs / 1000) + 100)));
  return c;
}

describe("CachingVerifier and tkdb replication", () => {
  it("a new feed epoch drops every cached answer and re-reads the feed from the start, so a revocation at a reused sequence is seen", async () => {
    const { authority, verifier, clock } = setup();
    const [a, b, victim] = [authority.mint(), authority.mint(), authority.mint()];
    authority.revoke(a);
    await verifier.poll(); // cursor 1 in epoch-1
    await verifier.verify(header(victim));
    expect((await verifier.verify(header(child(victim, clock.now)))).cached).toBe(true);
    // Restore: the revocation of `a` is lost, and the victim's revocation takes sequence 1 again.
    authority.restore(0);
    authority.revoke(victim);
    authority.revoke(b);
    expect(await verifier.poll()).toBe(true);
    expect(verifier.stats.epochs).toBe(1);
    expect(verifier.cache.size).toBe(0);
    // Without the epoch the cursor "1" would have skipped the victim's revocation at position 0.
    await expect(verifier.verify(header(child(victim, clock.now)))).rejects.toBeInstanceOf(TokenRefusedError);
    // A revocation seen in the old epoch stays refused (the verifier never forgets one).
    await expect(verifier.verify(header(a))).rejects.toBeInstanceOf(TokenRefusedError);
  });

  it("a verify answer naming a new epoch empties the cache and is not cached itself", async () => {
    const { authority, verifier, clock } = setup();
    const root = authority.mint();
    await verifier.poll();
    await verifier.verify(header(root));
    expect(verifier.cache.size).toBe(1);
    authority.restore(0);
    const other = authority.mint();
    expect((await verifier.verify(header(other))).cached).toBe(false);
    expect(verifier.cache.size).toBe(0);
    expect((await verifier.verify(header(child(root, clock.now)))).cached).toBe(false);
  });

  it("a replica answering stale is an unreachable feed: past failClosedAfterMs the cache is dropped and verification fails closed", async () => {
    const { authority, verifier, clock } = setup();
    const root = authority.mint();
    await verifier.poll();
    await verifier.verify(header(root));
    authority.stale = true;
    clock.now += 20_000;
    expect(await verifier.poll()).toBe(false);
    // Within the threshold the cache still answers.
    expect((await verifier.verify(header(child(root, clock.now)))).cached).toBe(true);
    clock.now += 10_001;
    expect(await verifier.poll()).toBe(false);
    expect(verifier.cache.size).toBe(0);
    // Online, the stale replica refuses: never a pass.
    await expect(verifier.verify(header(child(root, clock.now)))).rejects.toMatchObject({ code: "stale" });
    expect(verifier.feedFresh()).toBe(false);
  });

  it("a feed page from a replica further behind than maxReplicationAgeMs is a failed poll, whatever the replica's own bound", async () => {
    const { authority, verifier, clock } = setup();
    const root = authority.mint();
    await verifier.poll();
    await verifier.verify(header(root));
    authority.ageMs = 10_001; // a replica configured with a longer TKDB_STALE_AFTER_MS
    clock.now += 30_001;
    expect(await verifier.poll()).toBe(false);
    expect(verifier.cache.size).toBe(0);
    authority.ageMs = 9_000;
    expect(await verifier.poll()).toBe(true);
  });

  it("replicationOf reads tkdb's replication field and ignores a malformed one", () => {
    expect(replicationOf({ epoch: "e", seq: "4", heartbeat_ms: 5, age_ms: 6, primary: true })).toEqual({
      epoch: "e",
      seq: "4",
      heartbeatMs: 5,
      ageMs: 6,
      primary: true,
    });
    expect(replicationOf({ epoch: 1, seq: "4", heartbeat_ms: 5, age_ms: 6 })).toBeUndefined();
    expect(replicationOf(undefined)).toBeUndefined();
  });
});
