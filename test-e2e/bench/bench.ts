/**
 * Load benchmark of the whole system on loopback: tkdb and petsem as real processes, driven
 * through @tkdb/client by callers in this process. Bounded runs (count and time) of tkdb verify,
 * tkdb discharge, petsem resolve, the whole boot path and cached verification, each at 1 and 8
 * callers in flight, beside their floor measured in the same run: a bare node:http server on
 * loopback answering a JSON POST, driven by the same load loop. Ends with one JSON line.
 *
 *   cd test-e2e && pnpm bench      (BENCH_COUNT, BENCH_SECONDS scale the runs)
 */
import { spawn } from "node:child_process";
import { prepareWorkloads, runLoad } from "../src/reliability/load.js";
import { rssBytes, startStack } from "../src/reliability/stack.js";

const COUNT = Number(process.env.BENCH_COUNT ?? 3000);
const MAX_MS = Number(process.env.BENCH_SECONDS ?? 15) * 1000;

/** The floor: a bare HTTP server in its own process, reading a JSON body and answering one. */
async function plainServer(): Promise<{ url: string; stop(): void }> {
  const code = `
    const http = require("node:http");
    const s = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const j = JSON.parse(body);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: true, echo: j.n }));
      });
    });
    s.listen(0, "127.0.0.1", () => console.log(s.address().port));`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.stdout.once("data", (b: Buffer) => {
      clearTimeout(timer);
      resolve(b.toString().trim());
    });
    child.once("error", reject);
    child.once("exit", (c) => reject(new Error(`the bare HTTP server exited (${c}) before listening`)));
  });
  return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill("SIGTERM") };
}

async function main() {
  const stack = await startStack("load-bench");
  let plain: { stop(): void } | undefined;
  try {
    const floor = await plainServer();
    plain = floor;
    const w = await prepareWorkloads(stack.actors, { org: 501n, app: 1n, users: 50, secretCount: 20 });
    const plainOp = async (i: number) => {
      const r = await fetch(floor.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ n: i }),
      });
      const j = (await r.json()) as { echo: number };
      if (j.echo !== i) throw new Error("wrong echo");
    };
    const ops: [string, (i: number) => Promise<void>, number][] = [
      ["plain_http_post", plainOp, COUNT],
      ["tkdb_verify", w.verify, COUNT],
      ["tkdb_discharge", w.discharge, COUNT],
      ["petsem_resolve", w.resolve, COUNT],
      ["boot_discharge_and_resolve", w.boot, Math.ceil(COUNT / 2)],
      ["cached_verify", w.cachedVerify, COUNT * 10],
    ];
    const out: Record<string, unknown> = { bench: "load (test-e2e)", node: process.version };
    const rate: Record<string, number> = {};
    for (const [name, op, count] of ops) {
      for (const c of [1, 8]) {
        const r = await runLoad({ name, concurrency: c, count, maxMs: MAX_MS, op });
        console.log(
          `${name} c=${c}: ${r.ops} ops in ${r.seconds}s = ${r.perSecond}/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, errors ${r.errors}`,
        );
        if (r.errors > 0) console.log(`  first errors: ${r.errorSamples.join(" | ")}`);
        out[`${name}_c${c}`] = {
          ops: r.ops,
          errors: r.errors,
          per_s: r.perSecond,
          p50_ms: r.p50Ms,
          p99_ms: r.p99Ms,
        };
        rate[`${name}_c${c}`] = r.perSecond;
      }
    }
    const ratio = (a: string, b: string) => Number(((rate[a] ?? 0) / (rate[b] ?? 1)).toFixed(2));
    out.verify_c8_vs_plain_http_c8 = ratio("tkdb_verify_c8", "plain_http_post_c8");
    out.resolve_c8_vs_plain_http_c8 = ratio("petsem_resolve_c8", "plain_http_post_c8");
    out.cached_vs_online_verify_c8 = ratio("cached_verify_c8", "tkdb_verify_c8");
    out.concurrency_gain_verify = ratio("tkdb_verify_c8", "tkdb_verify_c1");
    out.tkdb_rss_mib = Math.round(rssBytes(stack.tkdb.child.pid as number) / 2 ** 20);
    out.petsem_rss_mib = Math.round(rssBytes(stack.petsem.child.pid as number) / 2 ** 20);
    w.stop();
    console.log(JSON.stringify(out));
  } finally {
    plain?.stop();
    await stack.stop();
  }
}

await main();
