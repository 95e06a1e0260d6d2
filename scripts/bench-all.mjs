#!/usr/bin/env node
// `npm run bench`: runs every package's benchmark in one go (one at a time, so they do not compete
// for the two cores), keeps the JSON line each prints last, and writes docs/PERFORMANCE.md with
// each figure beside its peer or floor as measured in that same run.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { arch, cpus, platform, release, totalmem } from "node:os";
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
  { pkg: "apps/tkdb", title: "tkdb over HTTP/Noise on loopback" },
  { pkg: "apps/petsem", title: "petsem: store in-process and over HTTP/Noise" },
  { pkg: "packages/client", title: "Verification cache against a real tkdb: cached against online" },
  {
    pkg: "test-e2e",
    title: "Load on loopback: both services as processes, 1 and 8 callers, beside a bare HTTP server",
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

const results = [];
for (const b of benches) {
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
  `| macaroon verify, speed-up over the best npm peer | ${get("packages/macaroon", "verify_speedup_vs_best_peer")} | ≥ 1.5 |`,
  `| macaroon verify, cost over the bare HMAC chain | ${get("packages/macaroon", "verify_cost_vs_hmac_floor")} | ≤ 2 |`,
  `| Noise handshakes, native over noble | ${get("packages/noise", "native_vs_noble_handshake")} | ≥ 10 |`,
  `| IK RPC round trip over loopback (ms) vs plain JSON POST (ms) | ${get("packages/noise", "ik_rpc_ms")} vs ${get("packages/noise", "plain_json_post_ms")} | |`,
  `| verification cache hit ratio (Zipf workload) | ${get("packages/client", "hit_ratio")} | ≥ 0.98 |`,
  `| cached over online verification | ${get("packages/client", "cached_vs_online_speedup")} | |`,
  `| tkdb verify/s at 8 callers (p50 / p99 ms) | ${fig("tkdb_verify_c8")} | |`,
  `| tkdb discharge/s at 8 callers (p50 / p99 ms) | ${fig("tkdb_discharge_c8")} | |`,
  `| petsem resolve/s at 8 callers (p50 / p99 ms) | ${fig("petsem_resolve_c8")} | |`,
  `| boot (discharge + resolve)/s at 8 callers (p50 / p99 ms) | ${fig("boot_discharge_and_resolve_c8")} | |`,
  `| bare HTTP JSON POST/s at 8 callers, the floor (p50 / p99 ms) | ${fig("plain_http_post_c8")} | |`,
  `| tkdb verify rate over the bare HTTP floor | ${get("test-e2e", "verify_c8_vs_plain_http_c8")} | |`,
  `| load errors across all runs | ${loadErrors()} | 0 |`,
  "",
];
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
  for (const [k, v] of flatten(r.json))
    lines.push(`| ${k} | ${typeof v === "number" ? v : JSON.stringify(v)} |`);
  lines.push("");
}
writeFileSync(join(root, "docs", "PERFORMANCE.md"), `${lines.join("\n")}\n`);
console.error("\nwrote docs/PERFORMANCE.md");
process.exit(results.every((r) => r.code === 0 && r.json) ? 0 : 1);
