/**
 * Issue 14 item 2, "Reads on replicas": a tkdb primary and TKDB_REPLICA processes on the same
 * database file (LiteFS itself cannot be installed here; a replica opening the primary's file
 * read-only stands in for a LiteFS replica whose replication is instant, and stopping the primary
 * stands in for a replica that cannot hear it).
 *
 * - machines boot (discharge + verify) through the replica, and its replies carry its position;
 * - a revocation at the primary reaches a client and petsem following the replica;
 * - replica traffic leaves the database file and its WAL byte for byte unchanged;
 * - with the primary's heartbeat stopped, the replica answers `stale` once the heartbeat is older
 *   than its bound, and the clients following it fail closed after their threshold.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import { CachingVerifier, TkdbClient, TokenRefusedError } from "@tkdb/client";
import { encodeAuthorizationHeader, type Macaroon, ValidityWindow } from "@tkdb/macaroon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { boot, type FlowActors, loginUser, one, TKDB_LOCATION, writerFor } from "./flow.js";
import { ROOT, type RunningService, startService } from "./harness.js";
import { type Stack, startStack } from "./reliability/stack.js";

const ORG = 301n;
const APP = 9n;
const SECRET = `postgres://replica:${createHash("sha256").update(String(Math.random())).digest("hex")}@db/app`;
/** The replica's staleness bound (TKDB_STALE_AFTER_MS); the primary beats every second. */
const STALE_AFTER_MS = 3_000;
/** The client's threshold (failClosedAfterMs) on its own injected clock. */
const CLIENT_THRESHOLD_MS = 5_000;

let stack: Stack;
let replica: RunningService;
let quiet: RunningService | undefined;
/** flyd and the API server, with flyd talking to the replica only. */
let viaReplica: FlowActors;
let flydR: TkdbClient;
let version = 0;
let user: { header: string; permission: Macaroon };
const clock = { now: Date.now() };
let follower: CachingVerifier;
let keeper: Macaroon;
let flydQ: TkdbClient;

/** A token minted at the primary, valid for years (its attenuations are verified from the cache). */
async function mintLong(): Promise<Macaroon> {
  const { token } = await stack.actors.admin.mint(ORG, [
    { type: "ValidityWindow", body: { not_before: 0, not_after: 4102444800 } },
  ]);
  return one(token);
}

/** petsem's ticket for tkdb in the reader token (what flyd discharges at boot). */
function readerTicket(): Uint8Array {
  const t = stack.actors.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (t === undefined) throw new Error("reader token has no tkdb caveat");
  return t;
}

/** A descendant of `m` with one more first-party caveat: the cache can verify it locally. */
function attenuated(m: Macaroon): string {
  const c = m.clone();
  c.add(new ValidityWindow(0n, BigInt(Math.floor(Date.now() / 1000) + 600)));
  return encodeAuthorizationHeader([c]);
}

const ep = (s: RunningService) => [{ url: s.url, serverPublicKey: s.publicKey }];
const fast = { attempts: 1, sleep: async () => {} };

function replicaEnv(name: string, staleAfterMs: number): Record<string, string> {
  return {
    ...stack.tkdbEnv,
    TKDB_PORT: "0",
    TKDB_REPLICA: "true",
    TKDB_STALE_AFTER_MS: String(staleAfterMs),
    // Each node keeps its own audit log; the database file is the primary's.
    TKDB_AUDIT_DIR: join(stack.dir, `audit-${name}`),
  };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, limitMs = 60_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const fileBytes = (p: string) =>
  existsSync(p) ? createHash("sha256").update(readFileSync(p)).digest("hex") : "none";

beforeAll(async () => {
  stack = await startStack("e2e-replica", {
    petsem: { PETSEM_TKDB_FEED_POLL_MS: "500", PETSEM_TKDB_FEED_FAIL_CLOSED_MS: "4000" },
  });
  await stack.actors.admin.orgCreate(ORG);
  replica = await startService("tkdb", replicaEnv("replica", STALE_AFTER_MS));
  // petsem follows tkdb's revocation feed through the replica.
  stack.petsemEnv.PETSEM_TKDB_URL = replica.url;
  await stack.restart("petsem");
  flydR = new TkdbClient({ endpoints: ep(replica), registry: flyRegistry, retry: fast });
  viaReplica = { ...stack.actors, flyd: flydR };
}, 120_000);

afterAll(async () => {
  await replica?.stop();
  await quiet?.stop();
  await stack?.stop();
});

describe("tkdb reads on a read-only replica", () => {
  it("machines boot through the replica: its discharge and verify answers carry its position in the primary's epoch", async () => {
    user = await loginUser(stack.actors, ORG, 41n);
    const w = await stack.actors.secrets.set(writerFor(stack.actors, ORG, APP), ORG, APP, {
      DATABASE_URL: SECRET,
    });
    version = w.app_version;
    const seen = await until("petsem to hear the replica's feed", async () =>
      boot(viaReplica, user.header, ORG, APP, version).catch(() => undefined),
    );
    expect(seen).toBe(createHash("sha256").update(SECRET).digest("hex"));
    const primaryHealth = await stack.actors.flyd.health();
    const v = await flydR.verify(user.header);
    expect(v.org).toBe(String(ORG));
    expect(v.replication).toMatchObject({ primary: false, epoch: primaryHealth.replication?.epoch });
    expect(v.replication?.ageMs).toBeLessThanOrEqual(STALE_AFTER_MS);
    // Mutations are refused at the replica, with the code that sends a client to the primary.
    const admin = new TkdbClient({ endpoints: ep(replica), clientStaticKey: stack.keys.signer, retry: fast });
    await expect(admin.orgCreate(ORG + 1n)).rejects.toMatchObject({ code: "not_primary" });
  });

  it("a revocation at the primary reaches a caching client and petsem following the replica, and the replica's next discharge refuses it", async () => {
    clock.now = Date.now();
    follower = new CachingVerifier({
      authority: flydR,
      registry: flyRegistry,
      now: () => clock.now,
      failClosedAfterMs: CLIENT_THRESHOLD_MS,
    });
    expect(await follower.poll()).toBe(true);
    const victim = await mintLong();
    const child = attenuated(victim);
    await follower.verify(encodeAuthorizationHeader([victim]));
    expect((await follower.verify(child)).cached).toBe(true);
    // The follower keeps a verified entry for a token nobody revokes, for the last test.
    keeper = await mintLong();
    await follower.verify(encodeAuthorizationHeader([keeper]));
    await stack.actors.admin.revoke({ token: encodeAuthorizationHeader([victim]) });
    expect(await follower.poll()).toBe(true);
    await expect(follower.verify(child)).rejects.toBeInstanceOf(TokenRefusedError);
    expect((await follower.verify(attenuated(keeper))).cached).toBe(true);
    // A user's revocation: flyd's next discharge at the replica is refused, and petsem, following
    // the replica's feed, refuses the discharge flyd obtained just before the revocation.
    const gone = await loginUser(stack.actors, ORG, 42n);
    const early = await flydR.discharge({
      ticket: readerTicket(),
      userHeader: gone.header,
      org: ORG,
      app: APP,
    });
    await stack.actors.admin.revoke({ token: encodeAuthorizationHeader([gone.permission]) });
    await expect(boot(viaReplica, gone.header, ORG, APP, version)).rejects.toMatchObject({ code: "revoked" });
    const withEarly = encodeAuthorizationHeader([stack.actors.reader, one(early)]);
    const refusal = await until("petsem to hear the revocation through the replica", async () => {
      const e = await stack.actors.secrets.resolve(withEarly, ORG, APP, version).then(
        () => undefined,
        (e: unknown) => e,
      );
      return /revoked/.test(String((e as Error | undefined)?.message)) ? e : undefined;
    });
    expect(refusal).toMatchObject({ code: "unauthorized" });
  });

  it("replica traffic (discharge, verify, feed, health, refused mutations) leaves the database and its WAL byte for byte unchanged", async () => {
    // The primary stops (its heartbeat is the only writer left); a second replica with a long
    // bound stays fresh meanwhile, so every read below is a served one, not a `stale` refusal.
    await stack.tkdb.stop();
    quiet = await startService("tkdb", replicaEnv("quiet", 600_000));
    const db = join(stack.tkdbEnv.TKDB_DATA_DIR as string, "tkdb.db");
    const before = [fileBytes(db), fileBytes(`${db}-wal`)];
    flydQ = new TkdbClient({ endpoints: ep(quiet), registry: flyRegistry, retry: fast });
    const ticket = readerTicket();
    for (let i = 0; i < 10; i++) {
      await flydQ.discharge({ ticket, userHeader: user.header, org: ORG, app: APP });
      await flydQ.verify(user.header);
    }
    await flydQ.revocations(undefined);
    expect((await flydQ.health()).stale).toBe(false);
    const admin = new TkdbClient({ endpoints: ep(quiet), clientStaticKey: stack.keys.signer, retry: fast });
    await expect(admin.revoke({ token: user.header })).rejects.toMatchObject({ code: "not_primary" });
    expect([fileBytes(db), fileBytes(`${db}-wal`)]).toEqual(before);
  });

  it("with the primary's heartbeat stopped the replica answers stale past its bound, and its clients fail closed after their threshold", async () => {
    // (The primary stopped in the previous test.) The replica turns stale once the last
    // heartbeat it holds is older than STALE_AFTER_MS.
    const h = await until("the replica to turn stale", async () => {
      const r = await flydR.health();
      return r.stale ? r : undefined;
    });
    expect(h.replication?.ageMs).toBeGreaterThan(STALE_AFTER_MS);
    await expect(flydR.verify(user.header)).rejects.toMatchObject({ code: "stale" });
    await expect(flydR.revocations(undefined)).rejects.toMatchObject({ code: "stale" });
    await expect(
      flydR.discharge({ ticket: readerTicket(), userHeader: user.header, org: ORG, app: APP }),
    ).rejects.toMatchObject({ code: "stale" });

    // The client: `stale` is a failed poll. Within its threshold (its own clock) the cache answers;
    // past it the cache is dropped and verification goes online, where the replica refuses.
    const childHeader = attenuated(keeper);
    clock.now += CLIENT_THRESHOLD_MS - 1_000;
    expect(await follower.poll()).toBe(false);
    expect((await follower.verify(childHeader)).cached).toBe(true);
    clock.now += 1_001;
    expect(await follower.poll()).toBe(false);
    expect(follower.cache.size).toBe(0);
    await expect(follower.verify(childHeader)).rejects.toMatchObject({ code: "stale" });

    // petsem, following the stale replica, refuses resolve once its own threshold has passed.
    const err = await until("petsem to fail closed", async () => {
      // (the discharge from the replica with the long bound: petsem's feed is what is stale)
      const e = await boot({ ...viaReplica, flyd: flydQ }, user.header, ORG, APP, version).then(
        () => undefined,
        (e: unknown) => e,
      );
      return (e as { code?: string } | undefined)?.code === "unavailable" ? e : undefined;
    });
    expect(err).toMatchObject({ code: "unavailable" });
  });
});

describe("infra/tkdb/litefs.yml", () => {
  it("the LiteFS proxy forwards only the signing API (the mutations) to the primary: every verification-API path, session included, is answered by the node itself", () => {
    const doc = parseYaml(readFileSync(join(ROOT, "infra", "tkdb", "litefs.yml"), "utf8")) as {
      proxy?: { passthrough?: unknown };
    };
    const passthrough = doc.proxy?.passthrough;
    expect(Array.isArray(passthrough)).toBe(true);
    expect([...(passthrough as string[])].sort()).toEqual(
      ["session", "verify", "revocations", "discharge", "health"]
        .map((op) => `/noise/v1/verify/${op}`)
        .sort(),
    );
  });
});
