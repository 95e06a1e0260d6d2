#!/usr/bin/env node
// `npm run bench`: runs every package's benchmark in one go (one at a time, so they do not compete
// for the two cores), keeps the JSON line each prints last, and writes docs/PERFORMANCE.md with
// each figure beside its peer or floor as measured in that same run. A bench's JSON line may carry
// a flat `performance` object: its keys are merged into docs/performance.json (other keys kept).
// Sections a bench wrote into PERFORMANCE.md between `<!-- bench:NAME -->` markers are kept.
//
//   BENCH_ONLY=test-e2e,packages/noise   run only these benches (folder names)
//   BENCH_QUICK=1                        smoke run: every bench that knows it runs short, and the
//                                        docs are written to the temp folder unless BENCH_WRITE_DOCS=1
import { spawn } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const benches = [
  {
    pkg: "packages/macaroon",
    title: "Macaroons: @tkdb/macaroon against the npm peers and the bare HMAC chain",
  },
  {
    pkg: "packages/noise",
    title: "Noise: native (node:crypto) against noble; HTTP/Noise against plain HTTP",
  },
  {
    pkg: "packages/audit",
    title:
      "Audit log: durable (fdatasync, group commit) and buffered appends beside the bare fdatasync floor",
  },
  {
    pkg: "apps/tkdb",
    title:
      "tkdb over HTTP/Noise on loopback: throughput, database bytes per discharge and revocation, trace overhead",
  },
  { pkg: "apps/petsem", title: "petsem: store in-process and over HTTP/Noise" },
  { pkg: "packages/client", title: "Verification cache against a real tkdb: cached against online" },
  {
    pkg: "test-e2e",
    title:
      "Load on loopback: both services as processes at 8 callers, beside oidc-provider introspection and bare HTTP floors",
  },
];

function run(pkg) {
  return new Promise((resolve) => {
    const t = Date.now();
    const child = spawn(join(root, "node_modules", ".bin", "tsx"), ["bench/bench.ts"], {
      cwd: join(root, pkg),
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (b) => {
      out += b.toString();
      process.stdout.write(b);
    });
    child.on("error", (e) => resolve({ code: -1, json: undefined, seconds: 0, error: e.message }));
    child.on("exit", (code) => {
      const last = out
        .trim()
        .split("\n")
        .reverse()
        .find((l) => l.startsWith("{") && l.endsWith("}"));
      let json;
      try {
        json = last ? JSON.parse(last) : undefined;
      } catch {}
      resolve({ code, json, seconds: (Date.now() - t) / 1000 });
    });
  });
}

function flatten(obj, prefix = "") {
  return Object.entries(obj).flatMap(([k, v]) =>
    v && typeof v === "object" && !Array.isArray(v) ? flatten(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]],
  );
}

// This script runs outside turbo (no cache): its settings need no turbo.json entry.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: read outside turbo
const QUICK = process.env.BENCH_QUICK === "1";
// biome-ignore lint/suspicious/noUndeclaredEnvVars: read outside turbo
const WRITE_DOCS = !QUICK || process.env.BENCH_WRITE_DOCS === "1";
// biome-ignore lint/suspicious/noUndeclaredEnvVars: read outside turbo
const only = process.env.BENCH_ONLY?.split(",").map((x) => x.trim());
const docsDir = WRITE_DOCS ? join(root, "docs") : tmpdir();
const mdPath = join(docsDir, "PERFORMANCE.md");
const jsonPath = join(docsDir, "performance.json");
const t0 = Date.now();

const results = [];
for (const b of benches.filter((x) => !only || only.includes(x.pkg))) {
  console.error(`\n== ${b.pkg} ==`);
  results.push({ ...b, ...(await run(b.pkg)) });
}

const get = (pkg, path) => {
  const r = results.find((x) => x.pkg === pkg)?.json;
  return path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), r);
};
const fig = (name) => {
  const r = get("test-e2e", name);
  return r ? `${r.per_s} (${r.p50_ms} / ${r.p99_ms})` : "not measured";
};
const val = (pkg, path) => get(pkg, path) ?? "not measured";
const perf = (k) => get("test-e2e", `performance.${k}`) ?? "not measured";
const loadErrors = () => {
  const r = results.find((x) => x.pkg === "test-e2e")?.json;
  if (!r) return "not measured";
  return Object.values(r).reduce((n, v) => n + (v && typeof v === "object" ? (v.errors ?? 0) : 0), 0);
};
const cpu = cpus();
const lines = [
  "# Performance",
  "",
  `Written by \`npm run bench\` (scripts/bench-all.mjs) on ${new Date().toISOString()}. Every figure`,
  "below was measured in this one run, each beside its peer or its floor. Re-run the command to",
  "reproduce; expect noise of ±10–20% on a shared machine.",
  "",
  "## Machine",
  "",
  `- ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB memory`,
  `- ${platform()} ${release()} ${arch()}, Node ${process.version}`,
  "",
  "## Headline ratios",
  "",
  "| Figure | Value | Target |",
  "|---|---|---|",
  `| macaroon verify, speed-up over the best npm peer | ${val("packages/macaroon", "verify_speedup_vs_best_peer")} | ≥ 1.5 |`,
  `| macaroon verify, cost over the bare HMAC chain | ${val("packages/macaroon", "verify_cost_vs_hmac_floor")} | ≤ 2 |`,
  `| Noise handshakes, native over noble | ${val("packages/noise", "native_vs_noble_handshake")} | ≥ 10 |`,
  `| IK RPC round trip over loopback (ms): request in message 1 / one-shot session / reused session, vs plain JSON POST | ${val("packages/noise", "ik_rpc_ms")} / ${val("packages/noise", "ik_rpc_oneshot_session_ms")} / ${val("packages/noise", "ik_rpc_reused_session_ms")} vs ${val("packages/noise", "plain_json_post_ms")} | |`,
  `| verification cache hit ratio (Zipf workload) | ${val("packages/client", "hit_ratio")} | ≥ 0.98 |`,
  `| cached over online verification | ${val("packages/client", "cached_vs_online_speedup")} | |`,
  `| tkdb verify/s at 8 callers (p50 / p99 ms) | ${fig("tkdb_verify_c8")} | |`,
  `| tkdb discharge/s at 8 callers (p50 / p99 ms) | ${fig("tkdb_discharge_c8")} | |`,
  `| petsem resolve of 20 secrets/s at 8 callers (p50 / p99 ms) | ${fig("petsem_resolve_c8")} | |`,
  `| boot (discharge + resolve)/s at 8 callers (p50 / p99 ms) | ${fig("boot_discharge_and_resolve_c8")} | |`,
  `| peer: ${perf("peer")?.name ?? "?"} ${perf("peer")?.version ?? ""} introspections/s at 8 callers (p50 / p99 ms) | ${fig("peer_introspection_c8")} | |`,
  `| bare node:http JSON POST/s at 8 callers, the floor (p50 / p99 ms) | ${fig("plain_http_post_c8")} | |`,
  `| tkdb verify over the peer's introspection rate | ${perf("verify_vs_peer_introspection")} | ≥ 1.2 |`,
  `| tkdb discharge over the peer's introspection rate | ${perf("discharge_vs_peer_introspection")} | ≥ 0.6 |`,
  `| petsem resolve (20 secrets) over the peer's introspection rate | ${perf("resolve20_vs_peer_introspection")} | ≥ 0.4 |`,
  `| boot p50 / p99 ms at 8 callers | ${perf("boot_p50_ms")} / ${perf("boot_p99_ms")} | ≤ 5 / ≤ 20 |`,
  `| cached verification of a 5-caveat descendant over decode + appended HMACs | ${perf("cached_verify_cost_vs_floor")} | ≤ 3 |`,
  `| tkdb verify rate over the bare HTTP floor | ${perf("verify_vs_http_floor")} | |`,
  `| the load generator's node:http floor over autocannon's | ${perf("generator_floor_vs_autocannon")} | |`,
  `| load errors across all runs | ${loadErrors()} | 0 |`,
  `| tkdb database bytes per 100 000 discharges (${val("apps/tkdb", "db_bytes.discharges.n")} driven at 8 callers, scaled; WAL frames written: ${val("apps/tkdb", "db_bytes.discharges.wal_frames")}, of which the heartbeat's: ${val("apps/tkdb", "db_bytes.discharges.heartbeat_frames")}) | ${val("apps/tkdb", "performance.db_bytes_per_100k_discharges")} | 0 |`,
  `| tkdb database bytes per 1 000 revocations (${val("apps/tkdb", "db_bytes.revocations.n")} driven, after a checkpoint; growth before it, mostly WAL: ${val("apps/tkdb", "db_bytes.revocations.raw_bytes")}) | ${val("apps/tkdb", "performance.db_bytes_per_1k_revocations")} | |`,
  `| audit events/s with fdatasync (group commit), 8 concurrent appenders | ${val("packages/audit", "performance.audit_events_per_s")} | |`,
  `| … with 1 appender; buffered; the disk's bare fdatasync/s (the floor) | ${val("packages/audit", "performance.audit_events_per_s_durable_1")}; ${val("packages/audit", "performance.audit_events_per_s_buffered")}; ${val("packages/audit", "performance.audit_fdatasync_floor_per_s")} | |`,
  `| trace overhead: tkdb server CPU per verify RPC, tracing on (OTLP/HTTP) over off, 8 callers | ${val("apps/tkdb", "performance.trace_overhead_ratio")} | |`,
  `| … caller's wall time per verify RPC, on over off, serial / 8 callers | ${val("apps/tkdb", "performance.trace_overhead_wall_ratio_serial")} / ${val("apps/tkdb", "performance.trace_overhead_wall_ratio_c8")} | |`,
  "",
];
// The place for other benches' figures (e.g. db_bytes_per_100k_discharges): any key of a bench's
// `performance` object other than test-e2e's load figures is listed here and merged into
// docs/performance.json like the rest.
const extra = results
  .filter((r) => r.pkg !== "test-e2e")
  .flatMap((r) => Object.entries(r.json?.performance ?? {}).map(([k, v]) => [k, v, r.pkg]));
if (extra.length > 0) {
  lines.push("### Other figures (docs/performance.json)", "", "| Key | Value | Bench |", "|---|---|---|");
  for (const [k, v, pkg] of extra)
    lines.push(`| ${k} | ${typeof v === "number" ? v : JSON.stringify(v)} | ${pkg} |`);
  lines.push("");
}
// Sections the benches wrote themselves (e.g. the load-vs-peer tables), kept as they are.
const previous = existsSync(mdPath) ? readFileSync(mdPath, "utf8") : "";
for (const m of previous.matchAll(/<!-- bench:([\w-]+) -->[\s\S]*?<!-- \/bench:\1 -->/g))
  lines.push(m[0], "");
for (const r of results) {
  lines.push(
    `## ${r.title}`,
    "",
    `\`cd ${r.pkg} && pnpm bench\` — ${r.seconds.toFixed(0)} s, exit ${r.code}`,
    "",
  );
  if (!r.json) {
    lines.push("No result line was printed: this benchmark failed in this run.", "");
    continue;
  }
  lines.push("| Measure | Value |", "|---|---|");
  // A bench's `performance` keys are in docs/performance.json (and in its own section, if any).
  for (const [k, v] of flatten(r.json).filter(([k]) => !k.startsWith("performance.")))
    lines.push(`| ${k} | ${typeof v === "number" ? v : JSON.stringify(v)} |`);
  lines.push("");
}
const seconds = (Date.now() - t0) / 1000;
lines.splice(
  5,
  0,
  `The whole run took ${(seconds / 60).toFixed(1)} minutes${QUICK ? " (BENCH_QUICK=1: a smoke run, not a measurement)" : ""}.`,
);
writeFileSync(mdPath, `${lines.join("\n")}\n`);

// docs/performance.json: one flat object; each bench's `performance` keys merged over what is there.
let merged = {};
try {
  const j = JSON.parse(readFileSync(jsonPath, "utf8"));
  if (j && typeof j === "object" && !Array.isArray(j)) merged = j;
} catch {}
for (const r of results) {
  const p = r.json?.performance;
  if (p && typeof p === "object" && !Array.isArray(p)) Object.assign(merged, p);
}
writeFileSync(`${jsonPath}.tmp`, `${JSON.stringify(merged, null, 2)}\n`);
renameSync(`${jsonPath}.tmp`, jsonPath);
console.error(`\nwrote ${mdPath} and ${jsonPath} in ${(seconds / 60).toFixed(1)} minutes`);
if (seconds > 15 * 60) console.error("warning: `npm run bench` took longer than its 15-minute budget");
process.exit(results.every((r) => r.code === 0 && r.json) ? 0 : 1);
