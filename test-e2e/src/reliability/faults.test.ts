/**
 * Issue 8, faults: kill -9 of each service at seeded random points during writes, then a restart
 * on the same data (or on a Litestream restore), and the client's behaviour while tkdb is gone.
 *
 * - tkdb: org_create / mint / revoke from concurrent workers, SIGKILL, restart: nothing
 *   acknowledged is lost, nothing half-written is visible, the audit chain verifies.
 * - petsem: concurrent whole-batch sets and unsets, SIGKILL, restart: every acknowledged batch is
 *   there, and what is visible is always exactly one whole batch.
 * - Litestream: SIGKILL of tkdb and its Litestream mid-burst, restore into a fresh folder, serve.
 * - Client: with tkdb unreachable a CachingVerifier fails closed, and recovers on restart.
 *
 * Each test prints one JSON line with its seed and numbers; FAULTS_SEED=<n> replays a run.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import { CachingVerifier, type TkdbClient, TokenRefusedError, UnavailableError } from "@tkdb/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginUser, resolveForBoot, writerFor } from "../flow.js";
import { cli, type RunningService, startService, tempDir } from "../harness.js";
import {
  alive,
  baseSeed,
  boundedAdmin,
  boundedSecrets,
  boundedVerifier,
  childPids,
  codeOf,
  header,
  kill9,
  rng,
  sleep,
  until,
} from "./faults-helpers.js";
import { LONG, newKeys, type Stack, stackEnvs, startStack } from "./stack.js";

const SEED = baseSeed();
const ROUNDS = LONG ? 25 : 3;
const WORKERS = 4;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack("faults");
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

/** Every nonce in tkdb's revocation feed, all pages. */
async function feed(client: TkdbClient): Promise<Set<string>> {
  const all = new Set<string>();
  let cursor: string | undefined;
  for (;;) {
    const page = await client.revocations(cursor, 5000);
    for (const n of page.nonces) all.add(n);
    if (page.nonces.length === 0 || page.cursor === cursor) return all;
    cursor = page.cursor;
  }
}

const orgCaveats = (org: bigint) => {
  const now = Math.floor(Date.now() / 1000);
  return [
    { type: "Organization", body: { id: Number(org), mask: "rwcdC" } },
    { type: "ValidityWindow", body: { not_before: now - 60, not_after: now + 24 * 3600 } },
  ];
};

describe("faults: kill -9 at random points, restart on the same data", () => {
  it(
    "tkdb: after SIGKILL mid-writes, every acknowledged org key, token and revocation survives, nothing is half-written, and the audit chain verifies",
    async () => {
      type Tok = { org: bigint; token: string; nonce: string };
      const orgKid = new Map<bigint, string>(); // acknowledged org_create → kid
      const tokens: Tok[] = []; // acknowledged mints (all rounds)
      const revoked = new Set<string>(); // acknowledged revokes (nonce ids)
      const maybeRevoked = new Set<string>(); // revokes in flight at a kill
      let nextOrg = 10_000n;
      const stats: { round: number; killMs: number; acked: number; inFlight: number }[] = [];
      const inFlightOrgOutcome = { committed: 0, absent: 0 };

      for (let round = 0; round < ROUNDS; round++) {
        const r = rng(SEED + round);
        const killMs = 30 + Math.floor(r() * 400);
        const admin = boundedAdmin(stack.tkdb, stack.keys.signer);
        const roundOrgs: bigint[] = [];
        const inFlightOrgs: bigint[] = [];
        let acked = 0;
        let inFlight = 0;
        let stop = false;
        const worker = async () => {
          while (!stop) {
            const org = nextOrg++;
            let step: "org" | "mint" | "revoke" = "org";
            let target: string | undefined;
            try {
              const c = await admin.orgCreate(org);
              expect(c.created).toBe(true);
              orgKid.set(org, c.kid);
              roundOrgs.push(org);
              acked++;
              step = "mint";
              const m = await admin.mint(org, orgCaveats(org));
              tokens.push({ org, token: m.token, nonce: m.nonce });
              acked++;
              const live = tokens.filter((t) => !revoked.has(t.nonce) && !maybeRevoked.has(t.nonce));
              if (r() < 0.5 && live.length > 0) {
                step = "revoke";
                target = (live[Math.floor(r() * live.length)] as Tok).nonce;
                const v = await admin.revoke({ nonce: target });
                expect(v.nonce).toBe(target);
                revoked.add(target);
                acked++;
              }
            } catch (e) {
              // Only the kill may end a worker, and only as "unreachable".
              if (!stop || !(e instanceof UnavailableError)) throw e;
              inFlight++;
              if (step === "org") inFlightOrgs.push(org);
              if (step === "revoke" && target !== undefined) maybeRevoked.add(target);
              return;
            }
          }
        };
        // A worker that fails before the kill fails the test at once.
        const running = Promise.all(Array.from({ length: WORKERS }, worker));
        // The seeded kill point counts from the first acknowledged write: writes are under way.
        await Promise.race([until(() => acked > 0, "a first acknowledged write"), running]);
        await Promise.race([sleep(killMs), running]);
        stop = true;
        await kill9(stack.tkdb);
        await running;
        await stack.restart("tkdb");
        stats.push({ round, killMs, acked, inFlight });

        const a = boundedAdmin(stack.tkdb, stack.keys.signer);
        const v = boundedVerifier(stack.tkdb);
        // Nothing half-written: an org in flight at the kill has a working key or none at all.
        for (const org of inFlightOrgs) {
          let had: boolean;
          try {
            const m = await a.mint(org, orgCaveats(org));
            await v.verify(header(m.token));
            had = true;
          } catch (e) {
            expect(codeOf(e)).toBe("not_found");
            had = false;
          }
          inFlightOrgOutcome[had ? "committed" : "absent"]++;
          const again = await a.orgCreate(org);
          expect(again.created).toBe(!had);
          const m = await a.mint(org, orgCaveats(org));
          expect((await v.verify(header(m.token))).org).toBe(org.toString());
        }
        // Every acknowledged org_create: same key (created=false, same kid), mints, and verifies.
        for (const org of roundOrgs) {
          const again = await a.orgCreate(org);
          expect(again).toMatchObject({ created: false, kid: orgKid.get(org) });
          const m = await a.mint(org, orgCaveats(org));
          expect((await v.verify(header(m.token))).org).toBe(org.toString());
        }
        // Every acknowledged revoke is in the feed; the feed decides the in-flight ones.
        const fed = await feed(v);
        for (const n of revoked) expect(fed.has(n), `acknowledged revoke ${n} missing from feed`).toBe(true);
        // Every acknowledged token (all rounds) verifies, unless revoked; verify agrees with the feed.
        for (const t of tokens) {
          const got = await v.verify(header(t.token)).then(
            (x) => x.nonce,
            (e: unknown) => codeOf(e),
          );
          if (fed.has(t.nonce)) expect(got).toBe("revoked");
          else expect(got).toBe(t.nonce);
          if (revoked.has(t.nonce)) expect(got).toBe("revoked");
        }
        for (const n of maybeRevoked) if (fed.has(n)) revoked.add(n);
        maybeRevoked.clear();
        const audit = await cli("tkdb", ["audit", "verify"], stack.tkdbEnv);
        expect(audit.code, audit.stderr).toBe(0);
        expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true });
      }
      console.log(
        JSON.stringify({
          test: "tkdb-kill9",
          seed: SEED,
          rounds: ROUNDS,
          workers: WORKERS,
          orgs: orgKid.size,
          tokens: tokens.length,
          revoked: revoked.size,
          inFlightOrgs: inFlightOrgOutcome,
          perRound: stats,
        }),
      );
      expect(stats.reduce((s, x) => s + x.acked, 0)).toBeGreaterThan(0);
    },
    60_000 + ROUNDS * 30_000,
  );

  it(
    "petsem: after SIGKILL mid-batches, every acknowledged batch is visible at or after its version, and what is visible is always one whole batch",
    async () => {
      const ORG = 77n;
      const APPS = [1n, 2n, 3n, 4n, 5n];
      const NAMES = ["API_KEY", "DATABASE_URL", "REDIS_URL", "SMTP_PASSWORD"];
      // Marks every value, so the services' output can be scanned for a leaked value.
      const mark = Math.floor(Math.random() * 2 ** 48).toString(36);
      type Batch = { n: number; app: bigint; kind: "set" | "unset"; version?: number };
      const batches = new Map<number, Batch>(); // acked (version set) or in flight at a kill
      let nextBatch = 1;
      await stack.actors.admin.orgCreate(ORG);
      const user = await loginUser(stack.actors, ORG, 5n);
      const stats: { round: number; killMs: number; acked: number; inFlight: number; visible: string[] }[] =
        [];
      let leaks = 0;
      let committedUnacked = 0;

      for (let round = 0; round < ROUNDS; round++) {
        const r = rng(SEED ^ (0x9e3779b9 + round));
        const killMs = 30 + Math.floor(r() * 400);
        const secrets = boundedSecrets(stack.petsem);
        let acked = 0;
        let inFlight = 0;
        let stop = false;
        const worker = async () => {
          while (!stop) {
            const b: Batch = {
              n: nextBatch++,
              app: APPS[Math.floor(r() * APPS.length)] as bigint,
              kind: r() < 0.2 ? "unset" : "set",
            };
            batches.set(b.n, b);
            const w = writerFor(stack.actors, ORG, b.app);
            try {
              const res =
                b.kind === "set"
                  ? await secrets.set(
                      w,
                      ORG,
                      b.app,
                      Object.fromEntries(NAMES.map((name) => [name, `b${b.n}-${name}-${mark}`])),
                    )
                  : await secrets.unset(w, ORG, b.app, NAMES);
              b.version = res.app_version;
              acked++;
            } catch (e) {
              if (!stop || !(e instanceof UnavailableError)) throw e;
              inFlight++;
              return;
            }
          }
        };
        // A worker that fails before the kill fails the test at once.
        const running = Promise.all(Array.from({ length: WORKERS }, worker));
        // The seeded kill point counts from the first acknowledged write: writes are under way.
        await Promise.race([until(() => acked > 0, "a first acknowledged write"), running]);
        await Promise.race([sleep(killMs), running]);
        stop = true;
        const before = stack.petsem;
        await kill9(before);
        await running;
        if (before.output().includes(mark)) leaks++;
        await stack.restart("petsem");

        const visible: string[] = [];
        for (const app of APPS) {
          const mine = [...batches.values()].filter((b) => b.app === app);
          const maxAcked = Math.max(0, ...mine.map((b) => b.version ?? 0));
          // Two acknowledged sets never share a version (an unset of nothing may answer the current one).
          const setVersions = mine
            .filter((b) => b.kind === "set" && b.version !== undefined)
            .map((b) => b.version);
          expect(new Set(setVersions).size).toBe(setVersions.length);
          // Every acknowledged batch: the store is at its version or later (else `stale`).
          const listed = await stack.actors.secrets.list(
            writerFor(stack.actors, ORG, app),
            ORG,
            app,
            maxAcked,
          );
          const V = listed.app_version;
          const values = await resolveForBoot(stack.actors, user.header, ORG, app, maxAcked);
          expect(Object.keys(values).sort()).toEqual(listed.secrets.map((x) => x.name).sort());
          // Exactly one whole batch: all names with one tag, or (after an unset) none.
          const tags = new Set(
            Object.entries(values).map(([name, value]) => {
              const m = /^b(\d+)-(.+)-([0-9a-z]+)$/.exec(value);
              expect(m?.[2], `value of ${name} is not from a batch`).toBe(name);
              expect(m?.[3]).toBe(mark);
              return Number(m?.[1]);
            }),
          );
          expect(tags.size, `app ${app} shows a mix of batches ${[...tags]}`).toBeLessThanOrEqual(1);
          let shown: Batch | undefined;
          if (tags.size === 1) {
            expect(Object.keys(values).sort(), `app ${app} shows a partial batch`).toEqual(NAMES);
            shown = batches.get([...tags][0] as number);
            expect(shown?.kind).toBe("set");
          } else if (V > 0) {
            // Empty at a version > 0: an unset batch is what is visible.
            const unsets = mine.filter((b) => b.kind === "unset");
            expect(unsets.length, `app ${app} is empty at version ${V} with no unset`).toBeGreaterThan(0);
            shown = unsets.find((b) => b.version === V) ?? unsets.find((b) => b.version === undefined);
            expect(shown, `app ${app} is empty at version ${V} but no unset explains it`).toBeDefined();
          }
          if (shown?.version !== undefined) expect(shown.version).toBe(V);
          // A version past every acknowledged one can only be a batch in flight at the kill.
          if (V > maxAcked) expect(shown?.version).toBeUndefined();
          if (shown && shown.version === undefined) {
            shown.version = V; // committed, not acknowledged
            committedUnacked++;
          }
          visible.push(`${app}@${V}:${shown ? `b${shown.n}` : "none"}`);
        }
        // Batches in flight that are not visible were not applied, or were overwritten: forget them.
        for (const [n, b] of batches) if (b.version === undefined) batches.delete(n);
        stats.push({ round, killMs, acked, inFlight, visible });
      }
      expect(leaks, "a secret value appeared in petsem's output").toBe(0);
      console.log(
        JSON.stringify({
          test: "petsem-kill9",
          seed: SEED,
          rounds: ROUNDS,
          workers: WORKERS,
          committedUnacked,
          perRound: stats,
        }),
      );
    },
    60_000 + ROUNDS * 30_000,
  );
});

describe("faults: the client while tkdb is unreachable", () => {
  it("a CachingVerifier fails closed when tkdb is killed (unseen tokens at once, cached ones after the feed-silence threshold, no boot discharge) and recovers on restart, refusing a token revoked meanwhile", async () => {
    const ORG = 88n;
    const APP = 3n;
    const FAIL_CLOSED_MS = 1_500;
    const admin = stack.actors.admin;
    await admin.orgCreate(ORG);
    const mint = async () => (await admin.mint(ORG, orgCaveats(ORG))).token;
    const seen = header(await mint());
    const unseen = header(await mint());
    const victim = await admin.mint(ORG, orgCaveats(ORG)); // revoked while the client is cut off
    const user = await loginUser(stack.actors, ORG, 6n);
    const value = `fail-closed-${Math.random().toString(36).slice(2)}`;
    const set = await stack.actors.secrets.set(writerFor(stack.actors, ORG, APP), ORG, APP, { TOKEN: value });
    expect(await resolveForBoot(stack.actors, user.header, ORG, APP, set.app_version)).toEqual({
      TOKEN: value,
    });

    // The same address comes back after the restart (the verifier keeps its client).
    const port = new URL(stack.tkdb.url).port;
    const verifier = new CachingVerifier({
      authority: boundedVerifier(stack.tkdb),
      registry: flyRegistry,
      pollIntervalMs: 100,
      failClosedAfterMs: FAIL_CLOSED_MS,
    });
    try {
      verifier.start();
      await until(() => verifier.feedFresh(), "the first feed poll");
      expect((await verifier.verify(seen)).cached).toBe(false);
      expect((await verifier.verify(seen)).cached).toBe(true);
      await verifier.verify(header(victim.token));

      const killedAt = Date.now();
      await kill9(stack.tkdb);
      // A token never seen before: a typed "unreachable", never a pass.
      const e1 = await verifier.verify(unseen).catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(UnavailableError);
      expect(codeOf(e1)).toBe("unavailable");
      // Boot cannot get its tkdb discharge, so resolve never happens.
      const e2 = await resolveForBoot(stack.actors, user.header, ORG, APP, set.app_version).catch(
        (e: unknown) => e,
      );
      expect(e2).toBeInstanceOf(UnavailableError);
      // Past the feed-silence threshold the cache is dropped: cached tokens are refused too.
      await until(() => !verifier.feedFresh(), "the feed-silence threshold");
      const e3 = await verifier.verify(seen).catch((e: unknown) => e);
      expect(e3).toBeInstanceOf(UnavailableError);
      expect(verifier.cache.size).toBe(0);
      const silentMs = Date.now() - killedAt;

      // An operator revokes on the database while the service is down.
      const rv = await cli("tkdb", ["token", "revoke", victim.nonce], stack.tkdbEnv);
      expect(rv.code, rv.stderr).toBe(0);
      stack.tkdbEnv.TKDB_PORT = port;
      try {
        await stack.restart("tkdb");
      } finally {
        stack.tkdbEnv.TKDB_PORT = "0";
      }
      await until(() => verifier.poll(), "the feed after restart");
      await expect(verifier.verify(header(victim.token))).rejects.toBeInstanceOf(TokenRefusedError);
      await expect(verifier.verify(header(victim.token))).rejects.toMatchObject({ code: "revoked" });
      expect((await verifier.verify(unseen)).cached).toBe(false);
      expect((await verifier.verify(seen)).cached).toBe(false);
      expect((await verifier.verify(seen)).cached).toBe(true);
      expect(await resolveForBoot(stack.actors, user.header, ORG, APP, set.app_version)).toEqual({
        TOKEN: value,
      });
      console.log(
        JSON.stringify({
          test: "client-fail-closed",
          failClosedAfterMs: FAIL_CLOSED_MS,
          silentMsUntilRefused: silentMs,
          stats: verifier.stats,
        }),
      );
    } finally {
      verifier.stop();
    }
  }, 60_000);
});

/** The `litestream replicate` child of `pid` (tsx's esbuild may be a child of a service too). */
function litestreamChild(pid: number): number | undefined {
  return childPids(pid).find((c) => {
    try {
      const argv = readFileSync(`/proc/${c}/cmdline`, "utf8").split("\0");
      return /litestream$/.test(argv[0] ?? "") && argv[1] === "replicate";
    } catch {
      return false; // gone
    }
  });
}

/** The parent pid of a live process (undefined once it is gone). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

describe("faults: restart on a Litestream restore after kill -9", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeAll(() => {
    dir = tempDir("faults-litestream");
  });
  const started: RunningService[] = [];
  const orphans: number[] = [];
  afterAll(async () => {
    for (const s of started) await s.stop("SIGKILL");
    for (const pid of orphans) if (alive(pid)) process.kill(pid, "SIGKILL");
    dir?.remove();
  });

  it.each(["tkdb", "petsem"] as const)(
    "%s killed alone leaves its Litestream running; the restart stops that orphan before starting its own, so one replicator writes the replica",
    async (name) => {
      const keys = newKeys();
      const envs = stackEnvs(join(dir.path, `orphan-${name}`), keys);
      const env = name === "tkdb" ? envs.tkdbEnv : envs.petsemEnv;
      // An orphan's stdout/stderr pipes have no reader: Litestream dies of SIGPIPE at its next log
      // line (seen: tkdb's orphan, shipping the 1 s heartbeat, died of signal 13 ~0.4 s after the
      // kill). An hour's sync interval keeps it quiet, so the orphan is still there to be reaped.
      if (name === "tkdb") {
        mkdirSync(env.TKDB_DATA_DIR as string, { recursive: true });
        const config = join(dir.path, `orphan-${name}.yml`);
        writeFileSync(
          config,
          `dbs:\n  - path: ${join(env.TKDB_DATA_DIR as string, "tkdb.db")}\n    replicas:\n      - url: file://${join(dir.path, `orphan-${name}-replica`)}\n        sync-interval: 1h\n`,
        );
        env.TKDB_LITESTREAM_CONFIG = config;
      } else {
        env.PETSEM_LITESTREAM_REPLICA = `file://${join(dir.path, `orphan-${name}-replica`)}`;
        env.PETSEM_LITESTREAM_SYNC_INTERVAL = "1h";
      }
      const first = await startService(name, env);
      started.push(first);
      await until(() => litestreamChild(first.child.pid as number) !== undefined, `${name}'s Litestream`);
      const orphan = litestreamChild(first.child.pid as number) as number;
      orphans.push(orphan);
      await kill9(first);
      // Outlives: re-parented away from the dead service (bounded wait), and running.
      await until(() => parentOf(orphan) !== first.child.pid, "the orphan's re-parenting", 30_000);
      expect(alive(orphan), "Litestream outlives a SIGKILLed parent").toBe(true);
      const second = await startService(name, env, 60_000);
      started.push(second);
      await until(
        () => litestreamChild(second.child.pid as number) !== undefined,
        `${name}'s new Litestream`,
        30_000,
      );
      const successor = litestreamChild(second.child.pid as number) as number;
      orphans.push(successor);
      expect(successor).not.toBe(orphan);
      expect(alive(orphan), "the orphan was stopped by the restart").toBe(false);
      await second.stop();
    },
    60_000,
  );

  it("tkdb and its Litestream killed mid-burst: the restore holds every write synced before the burst, a gap-free prefix of the burst, a verifying audit chain, and serves it", async () => {
    const r = rng(SEED ^ 0x5bd1e995);
    const keys = newKeys();
    const live = stackEnvs(join(dir.path, "live"), keys).tkdbEnv;
    mkdirSync(live.TKDB_DATA_DIR as string, { recursive: true });
    const config = join(dir.path, "litestream.yml");
    // As backup.test.ts configures it (a file replica synced every 100 ms), plus a 100 ms WAL
    // monitor (Litestream's default is 1 s): otherwise a burst this short never reaches the replica.
    writeFileSync(
      config,
      `dbs:\n  - path: ${join(live.TKDB_DATA_DIR as string, "tkdb.db")}\n    monitor-interval: 100ms\n    replicas:\n      - url: file://${join(dir.path, "replica")}\n        sync-interval: 100ms\n`,
    );
    live.TKDB_LITESTREAM_CONFIG = config;
    const tkdb = await startService("tkdb", live);
    started.push(tkdb);
    await until(() => childPids(tkdb.child.pid as number).length > 0, "tkdb's Litestream");
    const litestream = childPids(tkdb.child.pid as number);
    orphans.push(...litestream);
    const admin = boundedAdmin(tkdb, keys.signer);

    // Before the burst: an org, tokens, some revoked; then proof that the replica has them all.
    const ORG = 4242n;
    await admin.orgCreate(ORG);
    const toks: { token: string; nonce: string }[] = [];
    for (let i = 0; i < 40; i++) toks.push(await admin.mint(ORG, orgCaveats(ORG)));
    const early = toks.slice(0, 10);
    const burstTargets = toks.slice(10);
    for (const t of early) await admin.revoke({ nonce: t.nonce });
    const preWrites = 1 + toks.length + early.length; // org, mints, revocations
    const probe = join(dir.path, "probe");
    let probes = 0;
    // The audit trail is the node's own log file, not in the database (@tkdb/audit): a restored
    // copy holds the pre-burst writes when it serves every early revocation in its feed.
    await until(
      async () => {
        probes++;
        const out = join(probe, String(probes));
        mkdirSync(out, { recursive: true });
        const rs = await cli("tkdb", ["backup", "restore", "--output", join(out, "tkdb.db")], live);
        if (rs.code !== 0) return false;
        const copy = await startService("tkdb", { ...stackEnvs(out, keys).tkdbEnv, TKDB_DATA_DIR: out });
        try {
          const f = await feed(boundedVerifier(copy));
          return early.every((t) => f.has(t.nonce));
        } finally {
          await copy.stop();
        }
      },
      "the replica to hold the writes before the burst",
      60_000,
    );

    // The burst: sequential revokes (the real tokens first, then random nonces), killed at a seeded point.
    const killMs = 200 + Math.floor(r() * 1000);
    const acked: string[] = [];
    let inFlight: string | undefined;
    let stop = false;
    const burst = (async () => {
      for (let i = 0; !stop; i++) {
        // A well-formed Fly nonce [kid(16), rnd(16), false] (tkdb refuses anything else).
        const nonce =
          burstTargets[i]?.nonce ??
          Buffer.from([
            0x93,
            ...[0, 1].flatMap(() => [0xc4, 16, ...Array.from({ length: 16 }, () => Math.floor(r() * 256))]),
            0xc2,
          ]).toString("base64");
        inFlight = nonce;
        try {
          await admin.revoke({ nonce });
        } catch (e) {
          if (!stop || !(e instanceof UnavailableError)) throw e;
          return;
        }
        acked.push(nonce);
        inFlight = undefined;
      }
    })();
    await Promise.race([sleep(killMs), burst]);
    stop = true;
    // A machine crash: the service and its Litestream die together.
    for (const pid of litestream) process.kill(pid, "SIGKILL");
    await kill9(tkdb);
    await burst;

    // Restore the latest replica into a fresh folder and serve it.
    const restored = { ...stackEnvs(join(dir.path, "restored"), keys).tkdbEnv };
    mkdirSync(restored.TKDB_DATA_DIR as string, { recursive: true });
    const rs = await cli(
      "tkdb",
      ["backup", "restore", "--output", join(restored.TKDB_DATA_DIR as string, "tkdb.db")],
      live,
    );
    expect(rs.code, rs.stderr).toBe(0);
    // The killed node's audit log verifies (a torn last line is a write in progress).
    const au = await cli("tkdb", ["audit", "verify"], live);
    expect(au.code, au.stderr).toBe(0);
    const tkdb2 = await startService("tkdb", restored);
    started.push(tkdb2);
    const v = boundedVerifier(tkdb2);
    const fed = await feed(v);
    // Everything synced before the burst is there.
    for (const t of early) expect(fed.has(t.nonce)).toBe(true);
    // The burst's revocations in the restore are a prefix of the acknowledged order (plus at most
    // the one in flight): no hole, no write from after a missing one.
    const attempted = inFlight === undefined ? acked : [...acked, inFlight];
    const present = attempted.map((n) => fed.has(n));
    const prefix = present.indexOf(false) === -1 ? present.length : present.indexOf(false);
    expect(
      present.slice(prefix).every((p) => !p),
      `revocations after a gap at ${prefix}`,
    ).toBe(true);
    expect(fed.size).toBe(early.length + prefix);
    // It serves: the restored revocations are refused, the rest verify, and the org still mints.
    for (const [i, t] of [...early, ...burstTargets].entries()) {
      const got = await v.verify(header(t.token)).then(
        (x) => x.nonce,
        (e: unknown) => codeOf(e),
      );
      expect(got, `token ${i}`).toBe(fed.has(t.nonce) ? "revoked" : t.nonce);
    }
    const a2 = boundedAdmin(tkdb2, keys.signer);
    const m = await a2.mint(ORG, orgCaveats(ORG));
    expect((await v.verify(header(m.token))).org).toBe(ORG.toString());
    console.log(
      JSON.stringify({
        test: "litestream-restore-after-kill9",
        seed: SEED,
        killMs,
        preBurstWrites: preWrites,
        syncProbes: probes,
        burstAcked: acked.length,
        inFlight: inFlight !== undefined,
        restoredBurstPrefix: prefix,
        lostAckedSinceLastSync: acked.length - Math.min(prefix, acked.length),
      }),
    );
  }, 180_000);
});
