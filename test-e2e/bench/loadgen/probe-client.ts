/**
 * The generator's own cost per call: CPU µs that one load-generator worker (1 process × 8 callers
 * in flight) spends per operation, measured with process.cpuUsage() inside the worker over the
 * measured part, divided by the operations it completed. Throughput on a shared machine is noise;
 * CPU per call is not (much). Runs a node:http JSON echo (the floor of any HTTP client), tkdb
 * verify and petsem resolve20 through @tkdb/client (public API), once with the client's own
 * transport and once with the bench's undici pool adapter.
 *
 *   cd test-e2e && npx tsx bench/loadgen/probe-client.ts
 *   PROBE_COUNT=4000 PROBE_WORKLOADS=verify,resolve20 PROBE_FETCH=client,pool
 *   BENCH_WORKER_RUN_PROF=/tmp/prof  (a V8 CPU profile of the measured part, see worker.ts)
 */
import { startStack } from "../../src/reliability/stack.js";
import { echoNode } from "../peer/servers.js";
import { runDistributed } from "./coordinator.js";
import type { FetchImpl, WorkloadSpec } from "./protocol.js";
import { prepareFlow } from "./setup.js";

const COUNT = Number(process.env.PROBE_COUNT ?? 3000);
const WORKLOADS = new Set((process.env.PROBE_WORKLOADS ?? "echo,verify,resolve20").split(","));
const FETCHES = (process.env.PROBE_FETCH ?? "global,pool").split(",") as FetchImpl[];
const CALLERS = 8;

async function main() {
  const echo = WORKLOADS.has("echo") ? await echoNode() : undefined;
  const stack = await startStack("probe-client");
  try {
    const flow = await prepareFlow(stack, { org: 501n, app: 1n, users: 50, secretCount: 20 });
    const runs: { name: string; spec: WorkloadSpec; fetches: FetchImpl[] }[] = [];
    if (echo) runs.push({ name: "echo_node", spec: { kind: "echo", url: echo.url }, fetches: ["pool"] });
    if (WORKLOADS.has("verify"))
      runs.push({ name: "verify", spec: { kind: "verify", flow }, fetches: FETCHES });
    if (WORKLOADS.has("resolve20"))
      runs.push({ name: "resolve20", spec: { kind: "resolve", flow }, fetches: FETCHES });
    for (const r of runs)
      for (const f of r.fetches) {
        const d = await runDistributed({
          name: r.name,
          spec: r.spec,
          processes: 1,
          callersPerProcess: CALLERS,
          count: COUNT,
          maxMs: 120_000,
          warmupOps: 500,
          warmupMs: 3_000,
          fetchImpl: f,
        });
        console.log(
          `${r.name.padEnd(10)} ${f.padEnd(6)} ops ${d.ops} errors ${d.errors} ${d.perSecond}/s client ${d.generatorUsPerOp} us CPU/op`,
        );
        if (d.errors > 0) console.log(`  first errors: ${d.errorSamples.join(" | ")}`);
      }
  } finally {
    await stack.stop();
    await echo?.stop();
  }
}

await main();
