/**
 * petsem's follower of tkdb's revocation feed against a tkdb with replication (issue 14): a new
 * feed epoch re-reads the feed from the beginning; a replica answering `stale` is an unreachable feed.
 */
import type { RevocationPage } from "@tkdb/client";
import { describe, expect, it } from "vitest";
import { TkdbRevocationFeed } from "../src/tkdb-feed.js";

/** tkdb's feed: a log per epoch, with its `replication` field; `stale` throws as a replica does. */
function tkdb() {
  const t = {
    epoch: "e1",
    log: [] as string[],
    stale: false,
    ageMs: 0,
    async revocations(cursor: string | undefined): Promise<RevocationPage> {
      if (t.stale) throw Object.assign(new Error("replica past its bound"), { code: "stale" });
      const from = cursor === undefined ? 0 : Number(cursor);
      const replication = {
        epoch: t.epoch,
        seq: String(t.log.length),
        heartbeatMs: 0,
        ageMs: t.ageMs,
        primary: false,
      };
      return { nonces: t.log.slice(from), cursor: String(t.log.length), replication };
    },
  };
  return t;
}

describe("petsem's tkdb feed and tkdb replication", () => {
  it("a new feed epoch (restore or failover at tkdb) resets the cursor, so a revocation at a reused sequence is seen", async () => {
    const t = tkdb();
    const feed = new TkdbRevocationFeed({ source: t, pollIntervalMs: 100, failClosedAfterMs: 1000 });
    t.log.push("A");
    expect(await feed.poll()).toBe(true); // cursor 1 in e1
    // A restore loses A; the user's revocation takes sequence 0 again, in a new epoch.
    t.log = ["USER"];
    t.epoch = "e2";
    expect(await feed.poll()).toBe(true);
    expect(feed.epochResets).toBe(1);
    expect(feed.status("USER")).toBe("revoked");
    // Revocations seen before the restore stay refused.
    expect(feed.status("A")).toBe("revoked");
  });

  it("a replica answering stale fails the poll like an unreachable tkdb: past the threshold resolve is refused", async () => {
    let now = 1_000_000;
    const t = tkdb();
    const feed = new TkdbRevocationFeed({
      source: t,
      pollIntervalMs: 100,
      failClosedAfterMs: 1000,
      now: () => now,
    });
    expect(await feed.poll()).toBe(true);
    t.stale = true;
    now += 900;
    expect(await feed.poll()).toBe(false);
    expect(feed.status("X")).toBe("ok");
    now += 101;
    expect(feed.status("X")).toBe("stale");
    t.stale = false;
    expect(await feed.poll()).toBe(true);
    expect(feed.status("X")).toBe("ok");
  });

  it("a page from a replica further behind its primary than maxReplicationAgeMs is a failed poll", async () => {
    const now = 1_000_000;
    const t = tkdb();
    const feed = new TkdbRevocationFeed({
      source: t,
      pollIntervalMs: 100,
      failClosedAfterMs: 1000,
      now: () => now,
    });
    t.ageMs = 10_001;
    expect(await feed.poll()).toBe(false);
    expect(feed.status("X")).toBe("stale");
    t.ageMs = 500;
    expect(await feed.poll()).toBe(true);
    expect(feed.status("X")).toBe("ok");
  });
});
