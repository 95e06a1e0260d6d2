/**
 * Load benchmark of the whole system on loopback, beside its peer and its floors, all in one run:
 *
 * - servers, each in its own process on 127.0.0.1: tkdb and petsem (test-e2e's stack), the peer
 *   (oidc-provider answering token introspection, settings in peer/oidc-peer.mjs), and two floors
 *   (a node:http JSON echo and the same echo on Hono);
 * - one load generator (loadgen/): worker processes apart from every server, keep-alive undici
 *   pools, 8 callers in flight, laid out as 1 process × 8 callers and 2 × 4; warm-up, then a run
 *   bounded by count and time; exact p50/p99 over every latency; every answer checked, errors
 *   counted. The Noise workloads use @tkdb/client (public API) over the same pool;
 * - autocannon (pinned, its own process) against the floors and the peer: the generator's ceiling;
 * - the cached-verification microbench (cached-verify.ts) and the per-RPC CPU breakdown from V8
 *   profiles of the services during verify, discharge and resolve runs (profile.ts).
 *
 * Writes its section of docs/PERFORMANCE.md and merges its keys into docs/performance.json, and
 * ends with one JSON line for scripts/bench-all.mjs. No figure is asserted anywhere.
 *
 *   cd test-e2e && pnpm bench                 full run (about 5 minutes)
 *   BENCH_QUICK=1 pnpm bench                  smoke run (about a minute): checks the tools, figures
 *                                             are not measurements; docs are left alone unless
 *                                             BENCH_WRITE_DOCS=1
 *   BENCH_SECONDS, BENCH_COUNT                per-run time and count bounds (default 10 s, 300 000)
 *   BENCH_LAYOUTS=1x8,2x4                     generator layouts tried for every server
 *   BENCH_PROFILE_SECONDS                     length of each profiled run (default 6 s)
 *   BENCH_SET_BASELINE=1                      record this run's breakdown as the "before" figures
 *   BENCH_WORKLOADS=tkdb_verify,echo_node     (probing) only these load runs; implies docs left alone
 *   BENCH_PARTS=load,cannon,cached,profile    (probing) only these parts; implies docs left alone
 *   BENCH_PROFILE_OUT=<folder>                keep each raw .cpuprofile there
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rssBytes, type Stack, startStack } from "../src/reliability/stack.js";
import { cachedVerifyVsFloor } from "./cached-verify.js";
import { type CannonResult, runAutocannon } from "./loadgen/autocannon.js";
import { type DistResult, runDistributed } from "./loadgen/coordinator.js";
import type { FetchImpl, WorkloadSpec } from "./loadgen/protocol.js";
import { prepareFlow } from "./loadgen/setup.js";
import { echoHono, echoNode, type Peer, type ProcServer, startPeer } from "./peer/servers.js";
import { attribute, type Breakdown, CATEGORIES, type CpuProfile, profiler } from "./profile.js";
import { mergePerformanceJson, readPerformanceJson, writeSection } from "./report.js";

const here = dirname(fileURLToPath(import.meta.url));
const QUICK = process.env.BENCH_QUICK === "1";
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 10));
const COUNT = Number(process.env.BENCH_COUNT ?? (QUICK ? 20_000 : 300_000));
const CANNON_SECONDS = QUICK ? 2 : SECONDS;
const PROFILE_SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? (QUICK ? 2 : 6));

const LAYOUTS = (process.env.BENCH_LAYOUTS ?? "1x8,2x4").split(",").map((l) => {
  const [p, c] = l.split("x").map(Number);
  if (!p || !c) throw new Error(`BENCH_LAYOUTS: bad layout ${l}`);
  return { processes: p, callers: c };
});
const CALLERS = 8;
// Probing a change: a subset of the run. Its figures are partial, so the docs are never written.
const ONLY_WORKLOADS = process.env.BENCH_WORKLOADS?.split(",").map((x) => x.trim());
const PARTS = new Set(
  (process.env.BENCH_PARTS ?? "load,cannon,cached,profile").split(",").map((x) => x.trim()),
);
const PARTIAL = ONLY_WORKLOADS !== undefined || process.env.BENCH_PARTS !== undefined;
const wanted = (name: string) => ONLY_WORKLOADS === undefined || ONLY_WORKLOADS.includes(name);
const WRITE_DOCS = !PARTIAL && (!QUICK || process.env.BENCH_WRITE_DOCS === "1");

const r2 = (x: number) => Number(x.toFixed(2));

interface Run extends DistResult {
  fetch: FetchImpl;
}

async function main() {
  const started = Date.now();
  const profDir = mkdtempSync(join(tmpdir(), "bench-prof-"));
  const servers: ProcServer[] = [];
  let stack: Stack | undefined;
  try {
    const nodeEcho = await echoNode();
    servers.push(nodeEcho);
    const honoEcho = await echoHono();
    servers.push(honoEcho);
    const peer: Peer = await startPeer();
    servers.push(peer);

    // --- autocannon: the generator's ceiling on the plain servers, and the peer as autocannon sees it
    const cannon: Record<string, CannonResult> = {};
    type Req = { method: "POST"; headers: Record<string, string>; body: string };
    const jsonPost: Req = {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"n":1}',
    };
    const cannonRuns: [string, string, Req][] = [
      ["echo_node", nodeEcho.url, jsonPost],
      ["echo_hono", honoEcho.url, jsonPost],
      [
        "peer_introspection",
        peer.introspectionUrl,
        {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            authorization: `Basic ${Buffer.from(`${peer.clientId}:${peer.clientSecret}`).toString("base64")}`,
          },
          body: new URLSearchParams({ token: peer.token }).toString(),
        },
      ],
    ];
    for (const [name, url, req] of cannonRuns) {
      if (!PARTS.has("cannon")) break;
      const c = await runAutocannon({
        url,
        ...req,
        connections: CALLERS,
        seconds: CANNON_SECONDS,
        warmupSeconds: 1,
      });
      cannon[name] = c;
      console.log(
        `autocannon ${name}: ${c.perSecond}/s, p50 ${c.p50Ms} ms, p99 ${c.p99Ms} ms, errors ${c.errors} (autocannon ${c.version})`,
      );
    }

    // --- the stack, with the profiler preload (idle until a profiled run toggles it)
    const profEnv = {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${join(here, "profile-preload.mjs")}`.trim(),
      BENCH_CPU_PROF_DIR: profDir,
    };
    stack = await startStack("load-bench", { tkdb: profEnv, petsem: profEnv });
    const tkdbPid = stack.tkdb.child.pid as number;
    const petsemPid = stack.petsem.child.pid as number;
    const flow = await prepareFlow(stack, { org: 501n, app: 1n, users: 50, secretCount: 20 });

    const workloads: { name: string; spec: WorkloadSpec; pids: number[]; fetch?: FetchImpl }[] = [
      { name: "echo_node", spec: { kind: "echo", url: nodeEcho.url }, pids: [nodeEcho.pid] },
      { name: "echo_hono", spec: { kind: "echo", url: honoEcho.url }, pids: [honoEcho.pid] },
      {
        name: "peer_introspection",
        spec: {
          kind: "introspect",
          url: peer.introspectionUrl,
          clientId: peer.clientId,
          clientSecret: peer.clientSecret,
          token: peer.token,
        },
        pids: [peer.pid],
      },
      { name: "tkdb_verify", spec: { kind: "verify", flow }, pids: [tkdbPid], fetch: "global" },
      { name: "tkdb_discharge", spec: { kind: "discharge", flow }, pids: [tkdbPid], fetch: "global" },
      { name: "petsem_resolve20", spec: { kind: "resolve", flow }, pids: [petsemPid], fetch: "global" },
      { name: "boot", spec: { kind: "boot", flow }, pids: [tkdbPid, petsemPid], fetch: "global" },
    ];
    const runs: Run[] = [];
    const run = async (
      name: string,
      spec: WorkloadSpec,
      pids: number[],
      processes: number,
      callers: number,
      fetch: FetchImpl = "pool",
    ) => {
      const r = await runDistributed({
        name,
        spec,
        processes,
        callersPerProcess: callers,
        count: COUNT,
        maxMs: SECONDS * 1000,
        warmupOps: QUICK ? 100 : 500,
        warmupMs: QUICK ? 500 : 2_000,
        fetchImpl: fetch,
        serverPids: pids,
      });
      console.log(
        `${name} ${r.layout}${fetch === "global" ? " (client's own transport)" : ""}: ${r.ops} ops in ${r.seconds}s = ${r.perSecond}/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, errors ${r.errors}, server ${r.serverCores} cores, generator ${r.generatorCores} cores`,
      );
      if (r.errors > 0) console.log(`  first errors: ${r.errorSamples.join(" | ")}`);
      runs.push({ ...r, fetch });
      return r;
    };
    // The Noise workloads go through @tkdb/client's own default transport (what a user of the
    // client gets); the plain servers and the peer through the generator's undici pool.
    for (const w of workloads.filter((x) => PARTS.has("load") && wanted(x.name)))
      for (const l of LAYOUTS) await run(w.name, w.spec, w.pids, l.processes, l.callers, w.fetch);
    // For comparison: the same verify with the client over the generator's undici pool.
    if (PARTS.has("load") && wanted("tkdb_verify_pool"))
      await run("tkdb_verify", { kind: "verify", flow }, [tkdbPid], 1, CALLERS, "pool");
    if (PARTIAL) {
      console.log("(partial run: BENCH_WORKLOADS/BENCH_PARTS; no figures written)");
      if (PARTS.has("cached")) {
        const c = await cachedVerifyVsFloor(stack.actors, 501n, 1n, { batches: 5, perBatch: 2_000 });
        for (const [k, v] of Object.entries(c)) console.log(`cached verify ${k}: ${JSON.stringify(v)}`);
      }
    }

    // --- cached verification against its floor (a partial run did its short one above)
    const cached = PARTIAL
      ? undefined
      : await cachedVerifyVsFloor(stack.actors, 501n, 1n, {
          batches: QUICK ? 5 : 15,
          perBatch: QUICK ? 2_000 : 10_000,
        });
    for (const [k, c] of Object.entries(cached ?? {}))
      console.log(
        `cached verify (${k}: ${c.caveats} caveats, ${c.appended} appended): ${c.cachedUs} µs vs floor ${c.floorUs} µs = ${c.ratio}×`,
      );

    // --- per-RPC CPU breakdown: the services profiled during one run of each RPC
    const breakdown: Record<string, { service: string; rpcs: number; cpuUs: number; b: Breakdown }> = {};
    const profileRuns: [string, WorkloadSpec, number, string][] = [
      ["verify", { kind: "verify", flow }, tkdbPid, "tkdb"],
      ["discharge", { kind: "discharge", flow }, tkdbPid, "tkdb"],
      ["resolve20", { kind: "resolve", flow }, petsemPid, "petsem"],
    ];
    for (const [name, spec, pid, service] of profileRuns) {
      if (PARTIAL && !(PARTS.has("profile") && wanted(`profile_${name}`))) continue;
      const prof = profiler(profDir, [pid]);
      let profiles = new Map<number, CpuProfile>();
      const result = await runDistributed({
        name: `profile_${name}`,
        spec,
        processes: 1,
        callersPerProcess: CALLERS,
        count: COUNT,
        maxMs: PROFILE_SECONDS * 1000,
        warmupOps: 100,
        warmupMs: 500,
        serverPids: [pid],
        beforeGo: () => prof.start(),
        afterRun: async () => {
          profiles = await prof.stop();
        },
      });
      const p = profiles.get(pid);
      if (!p) throw new Error(`no profile of ${service}`);
      const keep = process.env.BENCH_PROFILE_OUT; // a folder: keep the raw profile for a closer look
      if (keep) writeFileSync(join(keep, `${name}.cpuprofile`), JSON.stringify(p));
      const b = attribute(p, result.ops + result.errors);
      // CPU of the whole process (every thread) per RPC, from /proc, beside the profile's main-thread time.
      const cpuUs = Number(
        ((result.serverCores * result.seconds * 1e6) / Math.max(1, result.ops + result.errors)).toFixed(1),
      );
      breakdown[name] = { service, rpcs: result.ops, cpuUs, b };
      console.log(
        `profile ${name} (${service}): ${b.perRpcUs} µs of main-thread time per RPC (${cpuUs} µs CPU); ${CATEGORIES.map((c) => `${c} ${Math.round(b.share[c] * 100)}%`).join(", ")}`,
      );
      if (PARTIAL) for (const t of b.top) console.log(`  ${t.ms} ms ${t.category} ${t.fn} ${t.where}`);
    }
    if (PARTIAL || !cached) return;

    // --- figures
    const best = (name: string): Run => {
      const rs = runs.filter((r) => r.name === name);
      return rs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    };
    const peerRun = best("peer_introspection");
    const vsPeer = (name: string) => r2(best(name).perSecond / peerRun.perSecond);
    const boot = best("boot");
    const loadErrors = runs.reduce((n, r) => n + r.errors, 0);
    const flat: Record<string, unknown> = {
      verify_vs_peer_introspection: vsPeer("tkdb_verify"),
      discharge_vs_peer_introspection: vsPeer("tkdb_discharge"),
      resolve20_vs_peer_introspection: vsPeer("petsem_resolve20"),
      boot_p50_ms: boot.p50Ms,
      boot_p99_ms: boot.p99Ms,
      cached_verify_cost_vs_floor: cached.main.ratio,
      verify_vs_http_floor: r2(best("tkdb_verify").perSecond / best("echo_node").perSecond),
      generator_floor_vs_autocannon: r2(
        best("echo_node").perSecond / (cannon.echo_node?.perSecond ?? Number.NaN),
      ),
      peer: { name: peer.name, version: peer.version, settings: peer.settings },
      peer_introspection_per_s: peerRun.perSecond,
      peer_introspection_p50_ms: peerRun.p50Ms,
      peer_introspection_p99_ms: peerRun.p99Ms,
      verify_per_s: best("tkdb_verify").perSecond,
      verify_p50_ms: best("tkdb_verify").p50Ms,
      verify_p99_ms: best("tkdb_verify").p99Ms,
      discharge_per_s: best("tkdb_discharge").perSecond,
      discharge_p99_ms: best("tkdb_discharge").p99Ms,
      resolve20_per_s: best("petsem_resolve20").perSecond,
      resolve20_p99_ms: best("petsem_resolve20").p99Ms,
      boot_per_s: boot.perSecond,
      http_floor_node_per_s: best("echo_node").perSecond,
      http_floor_hono_per_s: best("echo_hono").perSecond,
      autocannon_echo_node_per_s: cannon.echo_node?.perSecond,
      autocannon_echo_hono_per_s: cannon.echo_hono?.perSecond,
      autocannon_peer_introspection_per_s: cannon.peer_introspection?.perSecond,
      cached_verify_us: cached.main.cachedUs,
      cached_verify_floor_us: cached.main.floorUs,
      cached_verify_5_appended_cost_vs_floor: cached.fiveAppended.ratio,
      load_errors: loadErrors,
      load_callers: CALLERS,
      load_bench_quick: QUICK,
      load_bench_status: QUICK ? "smoke run (BENCH_QUICK=1): not a measurement" : "measured",
      load_bench_measured_at: new Date().toISOString(),
      load_bench_machine: `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    };
    for (const [name, { b, cpuUs }] of Object.entries(breakdown)) {
      flat[`breakdown_${name}_us_total`] = b.perRpcUs;
      flat[`breakdown_${name}_cpu_us`] = cpuUs;
      for (const c of CATEGORIES) flat[`breakdown_${name}_us_${c}`] = b.us[c];
    }
    const previous = readPerformanceJson();
    // Only on request: the first full run came after the issue-17 changes, so it is no "before"
    // (the before/after shares of that work are in PERFORMANCE.md's issue17-notes section).
    const setBaseline = process.env.BENCH_SET_BASELINE === "1";
    if (setBaseline) {
      for (const [k, v] of Object.entries(flat)) if (k.startsWith("breakdown_")) flat[`baseline_${k}`] = v;
      flat.baseline_breakdown_measured_at = flat.load_bench_measured_at;
    }
    const baseline = setBaseline ? flat : previous;

    const md = section({
      runs,
      cannon,
      cached,
      breakdown,
      flat,
      baseline,
      peer,
      seconds: (Date.now() - started) / 1000,
    });
    if (WRITE_DOCS) {
      mergePerformanceJson(flat);
      writeSection("load-vs-peer", md);
      console.log("wrote docs/performance.json and the load-vs-peer section of docs/PERFORMANCE.md");
    } else console.log(`\n(BENCH_QUICK: docs left alone; the section would read:)\n${md}\n`);

    const tkdbRss = Math.round(rssBytes(tkdbPid) / 2 ** 20);
    const petsemRss = Math.round(rssBytes(petsemPid) / 2 ** 20);
    const fig = (r: Run) => ({
      per_s: r.perSecond,
      p50_ms: r.p50Ms,
      p99_ms: r.p99Ms,
      errors: r.errors,
      layout: r.layout,
    });
    console.log(
      JSON.stringify({
        bench: "load (test-e2e)",
        node: process.version,
        quick: QUICK,
        tkdb_verify_c8: fig(best("tkdb_verify")),
        tkdb_discharge_c8: fig(best("tkdb_discharge")),
        petsem_resolve_c8: fig(best("petsem_resolve20")),
        boot_discharge_and_resolve_c8: fig(boot),
        peer_introspection_c8: fig(peerRun),
        plain_http_post_c8: fig(best("echo_node")),
        hono_http_post_c8: fig(best("echo_hono")),
        tkdb_rss_mib: tkdbRss,
        petsem_rss_mib: petsemRss,
        performance: flat,
      }),
    );
  } finally {
    await stack?.stop();
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(profDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

interface SectionInput {
  runs: Run[];
  cannon: Record<string, CannonResult>;
  cached: Awaited<ReturnType<typeof cachedVerifyVsFloor>>;
  breakdown: Record<string, { service: string; rpcs: number; cpuUs: number; b: Breakdown }>;
  flat: Record<string, unknown>;
  baseline: Record<string, unknown>;
  peer: Peer;
  seconds: number;
}

function section(x: SectionInput): string {
  const f = x.flat;
  const met = (v: unknown, ok: (n: number) => boolean) => (typeof v === "number" && ok(v) ? "yes" : "**no**");
  const L: string[] = [
    "## Load against the peer: tkdb and petsem beside oidc-provider introspection",
    "",
    `\`cd test-e2e && pnpm bench\`${QUICK ? " (BENCH_QUICK=1: a smoke run, NOT a measurement)" : ""} — ${x.seconds.toFixed(0)} s, ${f.load_bench_measured_at}, ${f.load_bench_machine}.`,
    `Peer: ${x.peer.name} ${x.peer.version}; ${x.peer.settings}.`,
    "",
    "Method: every server runs in its own process on 127.0.0.1; one load generator (test-e2e/bench/loadgen)",
    "drives all of them from worker processes over keep-alive undici pools, 8 callers in flight, as",
    "1 process × 8 callers and as 2 × 4; each run warms up, then is bounded by a count and a time;",
    "p50/p99 are exact over every latency of every worker; every answer is checked. The Noise",
    "workloads use @tkdb/client over the same pool. autocannon runs against the plain servers and the",
    "peer to show the generator's own ceiling. On 2 cores a server needs one; a second generator",
    "process can only take CPU from the server (or the first generator), so 1 × 8 is expected to win",
    "wherever the server does real work; both are measured, and each server is credited with its",
    "better layout.",
    "",
    "| Target | Value | Target | Met |",
    "|---|---|---|---|",
    `| tkdb verify/s over the peer's introspections/s (8 callers) | ${f.verify_vs_peer_introspection} (${f.verify_per_s}/s, p99 ${f.verify_p99_ms} ms vs ${f.peer_introspection_per_s}/s, p99 ${f.peer_introspection_p99_ms} ms) | ≥ 1.2 | ${met(f.verify_vs_peer_introspection, (v) => v >= 1.2)} |`,
    `| tkdb discharge/s over the peer's | ${f.discharge_vs_peer_introspection} | ≥ 0.6 | ${met(f.discharge_vs_peer_introspection, (v) => v >= 0.6)} |`,
    `| petsem resolve (20 secrets)/s over the peer's | ${f.resolve20_vs_peer_introspection} | ≥ 0.4 | ${met(f.resolve20_vs_peer_introspection, (v) => v >= 0.4)} |`,
    `| boot (discharge + resolve) p50 ms at 8 callers | ${f.boot_p50_ms} | ≤ 5 | ${met(f.boot_p50_ms, (v) => v <= 5)} |`,
    `| boot p99 ms at 8 callers | ${f.boot_p99_ms} | ≤ 20 | ${met(f.boot_p99_ms, (v) => v <= 20)} |`,
    `| cached verification of a 5-caveat descendant over its floor | ${f.cached_verify_cost_vs_floor} (${f.cached_verify_us} µs vs ${f.cached_verify_floor_us} µs) | ≤ 3 | ${met(f.cached_verify_cost_vs_floor, (v) => v <= 3)} |`,
    `| tkdb verify/s over the bare node:http floor (same generator) | ${f.verify_vs_http_floor} | | |`,
    `| generator's node:http echo rate over autocannon's | ${f.generator_floor_vs_autocannon} | | |`,
    `| load errors across all runs | ${f.load_errors} | 0 | ${met(f.load_errors, (v) => v === 0)} |`,
    "",
    "### Every load run (8 callers in flight)",
    "",
    "Rate over successful operations; p50/p99 exact over all of them; CPU in cores used on average",
    "during the run (a server near 1.0 is saturated on its one thread; a generator near its process",
    "count is what bounds the run). The headline figures take each server's better layout.",
    "",
    "| Workload | Layout | HTTP client | Ops | Errors | /s | p50 ms | p99 ms | Server cores | Generator cores |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of x.runs)
    L.push(
      `| ${r.name} | ${r.layout} | ${r.fetch === "pool" ? "undici pool" : "client's own transport"} | ${r.ops} | ${r.errors} | ${r.perSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.serverCores} | ${r.generatorCores} |`,
    );
  L.push(
    "",
    "### autocannon (8 connections, keep-alive, its own process): the generator's ceiling",
    "",
    "| Server | /s | p50 ms | p99 ms | Errors (non-2xx, socket, timeouts) |",
    "|---|---|---|---|---|",
  );
  for (const [k, c] of Object.entries(x.cannon))
    L.push(`| ${k} | ${c.perSecond} | ${c.p50Ms} | ${c.p99Ms} | ${c.errors} |`);
  L.push(
    "",
    "### Cached verification against its floor",
    "",
    "CachingVerifier.verify on a descendant of a token it verified online, against decoding the same",
    "header and computing the HMAC-SHA256 chain of the appended caveats with node:crypto (median batch).",
    "",
    "| Case | Caveats | Appended | Cached µs | Floor µs | Ratio |",
    "|---|---|---|---|---|---|",
    `| user token + login discharge, 2 appended (the headline) | ${x.cached.main.caveats} | ${x.cached.main.appended} | ${x.cached.main.cachedUs} | ${x.cached.main.floorUs} | ${x.cached.main.ratio} |`,
    `| the same, 5 appended | ${x.cached.fiveAppended.caveats} | ${x.cached.fiveAppended.appended} | ${x.cached.fiveAppended.cachedUs} | ${x.cached.fiveAppended.floorUs} | ${x.cached.fiveAppended.ratio} |`,
    "",
    "### Per-RPC cost breakdown (V8 profiles of the service during one run of each RPC)",
    "",
    "µs per RPC of the service's main thread, by category (test-e2e/bench/profile.ts says how a",
    "sample is assigned). V8 samples the thread whether it computes or waits inside a native call,",
    "so `database` includes synchronous waits such as an SQLite commit's fsync; the process's CPU per",
    "RPC (all threads, from /proc) is given beside it. `before` is a baseline recorded with",
    "BENCH_SET_BASELINE=1, if any; the before/after of issue 17 is in the issue17-notes section.",
    "",
  );
  const hasBase = x.baseline.baseline_breakdown_measured_at !== undefined;
  for (const [name, { service, rpcs, cpuUs, b }] of Object.entries(x.breakdown)) {
    L.push(
      `**${name}** (${service}, ${rpcs} RPCs profiled): ${b.perRpcUs} µs of main-thread time per RPC, ${cpuUs} µs of CPU${
        hasBase ? ` (before: ${x.baseline[`baseline_breakdown_${name}_us_total`] ?? "–"} µs)` : ""
      }`,
      "",
      hasBase ? "| Category | µs/RPC | Share | Before µs/RPC |" : "| Category | µs/RPC | Share |",
      hasBase ? "|---|---|---|---|" : "|---|---|---|",
    );
    for (const c of CATEGORIES)
      L.push(
        `| ${c} | ${b.us[c]} | ${(b.share[c] * 100).toFixed(1)}% |${hasBase ? ` ${x.baseline[`baseline_breakdown_${name}_us_${c}`] ?? "–"} |` : ""}`,
      );
    L.push("", "Most self time:", "", "| Function | Where | Category | ms |", "|---|---|---|---|");
    for (const t of b.top.slice(0, 8)) L.push(`| ${t.fn} | ${t.where} | ${t.category} | ${t.ms} |`);
    L.push("");
  }
  return L.join("\n");
}

await main();
