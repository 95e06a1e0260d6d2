/**
 * Bounded load runs: a fixed number of operations or a time limit, whichever comes first, with a
 * fixed number of callers in flight. Every operation's latency is recorded (no sampling), so the
 * percentiles are exact for the run. An operation that throws is an error, counted apart (its
 * latency is in neither the percentiles nor the rate); the first few error messages are kept
 * (messages only: they carry codes, never token bytes or secrets).
 */
import { flyRegistry, SecretScope } from "@tkdb/caveats";
import { CachingVerifier } from "@tkdb/client";
import { encodeAuthorizationHeader, type Macaroon, ValidityWindow } from "@tkdb/macaroon";
import { type FlowActors, loginUser, one, TKDB_LOCATION, writerFor } from "../flow.js";

export interface LoadOptions {
  name: string;
  /** Callers in flight. */
  concurrency: number;
  /** Stop after this many operations... */
  count: number;
  /** ...or after this long, whichever is first. */
  maxMs: number;
  op: (i: number) => Promise<void>;
}

export interface LoadResult {
  name: string;
  concurrency: number;
  /** Operations that succeeded: the rate and the percentiles are over these alone. */
  ops: number;
  errors: number;
  errorSamples: string[];
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const round = (x: number, d = 3) => Number(x.toFixed(d));

/** The q-quantile of sorted values (nearest rank). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const latencies = new Float64Array(o.count);
  let next = 0;
  let done = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const t0 = performance.now();
  const deadline = t0 + o.maxMs;
  const caller = async () => {
    while (next < o.count && performance.now() < deadline) {
      const i = next++;
      const s = performance.now();
      try {
        await o.op(i);
        latencies[done++] = performance.now() - s;
      } catch (e) {
        errors++;
        if (errorSamples.length < 5)
          errorSamples.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, caller));
  const seconds = (performance.now() - t0) / 1000;
  const sorted = latencies.subarray(0, done).sort();
  return {
    name: o.name,
    concurrency: o.concurrency,
    ops: done,
    errors,
    errorSamples,
    seconds: round(seconds, 2),
    perSecond: round(done / seconds, 1),
    p50Ms: round(quantile(sorted, 0.5)),
    p99Ms: round(quantile(sorted, 0.99)),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

export type Workload = (i: number) => Promise<void>;

export interface Workloads {
  /** tkdb verify of a user's token (permission + login discharge), online every time. */
  verify: Workload;
  /** tkdb discharge of petsem's reader ticket for a user's token (audited write at tkdb). */
  discharge: Workload;
  /** petsem resolve of an app's secrets with the reader token and a tkdb discharge. */
  resolve: Workload;
  /** The whole boot: tkdb discharge, then petsem resolve. */
  boot: Workload;
  /** Verification through the client's caching verifier (attenuated descendants of known tokens). */
  cachedVerify: Workload;
  verifier: CachingVerifier;
  /** Stops the background work (feed polling, discharge refresh). */
  stop(): void;
}

const check = (cond: boolean, what: string) => {
  if (!cond) throw new Error(`wrong answer: ${what}`);
};

/**
 * Sets up `users` users of one org with one app holding `secretCount` secrets, and returns the
 * operations. Each operation checks its answer (an answer that is wrong counts as an error).
 */
export async function prepareWorkloads(
  a: FlowActors,
  opts: { org: bigint; app: bigint; users: number; secretCount: number },
): Promise<Workloads> {
  const { org, app } = opts;
  await a.admin.orgCreate(org);
  const users: { header: string; permission: Macaroon }[] = [];
  for (let u = 0; u < opts.users; u++) users.push(await loginUser(a, org, BigInt(1000 + u)));
  const values: Record<string, string> = {};
  for (let s = 0; s < opts.secretCount; s++) values[`SECRET_${s}`] = `value-${s}-${"x".repeat(40)}`;
  const { app_version } = await a.secrets.set(writerFor(a, org, app), org, app, values);
  const ticket = a.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (!ticket) throw new Error("reader token has no tkdb caveat");
  const user = (i: number) => users[i % users.length] as { header: string; permission: Macaroon };
  const orgId = org.toString();
  // One discharge per user for the resolve-only workload, renewed in the background well within
  // tkdb's discharge TTL (60 s by default), as flyd reuses a discharge while it is valid.
  const readerHeaders: string[] = [];
  const refresh = async () => {
    for (let u = 0; u < users.length; u++) {
      const d = await a.flyd.discharge({ ticket, userHeader: user(u).header, org, app });
      readerHeaders[u] = encodeAuthorizationHeader([a.reader, one(d)]);
    }
  };
  await refresh();
  const refresher = setInterval(() => void refresh().catch(() => {}), 20_000);
  refresher.unref();
  const resolveWith = async (header: string) => {
    const r = await a.secrets.resolve(header, org, app, app_version);
    check(r.secrets.length === opts.secretCount, "resolve returned every secret");
    check(
      r.secrets.every((s) => values[s.name] === s.value),
      "resolve returned the written values",
    );
  };
  const verifier = new CachingVerifier({ authority: a.flyd, registry: flyRegistry, pollIntervalMs: 1000 });
  // A relying party polls the feed all the time; without it the cache fails closed after 30 s.
  verifier.start();
  await verifier.poll();
  const now = BigInt(Math.floor(Date.now() / 1000));
  const descendants: string[] = [];
  for (let u = 0; u < users.length; u++) {
    const discharge = user(u).header.split(",")[1];
    // A holder's first call presents the token as issued; later calls attenuate it further.
    await verifier.verify(user(u).header);
    for (let k = 0; k < 20; k++) {
      const child = user(u).permission.clone();
      child.add(new ValidityWindow(now - 60n, now + 600n + BigInt(k)), new SecretScope(org, app));
      descendants.push(`${encodeAuthorizationHeader([child])},${discharge}`);
    }
  }
  return {
    verify: async (i) => {
      const v = await a.flyd.verify(user(i).header);
      check(v.org === orgId, "verify names the org");
    },
    discharge: async (i) => {
      const d = await a.flyd.discharge({ ticket, userHeader: user(i).header, org, app });
      check(d.length > 0, "discharge is a token");
    },
    resolve: (i) => resolveWith(readerHeaders[i % readerHeaders.length] as string),
    boot: async (i) => {
      const d = await a.flyd.discharge({ ticket, userHeader: user(i).header, org, app });
      await resolveWith(encodeAuthorizationHeader([a.reader, one(d)]));
    },
    cachedVerify: async (i) => {
      const r = await verifier.verify(descendants[i % descendants.length] as string);
      check(r.caveats.length > 0, "cached verify returns caveats");
    },
    verifier,
    stop: () => {
      clearInterval(refresher);
      verifier.stop();
    },
  };
}
