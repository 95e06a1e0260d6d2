/**
 * One load-generator process (forked by coordinator.ts): builds its workload, warms it up (JIT,
 * keep-alive connections, Noise sessions), says ready, and on "go" runs its callers until its share
 * of the count is done or its time is up. Every latency is kept (no sampling); errors are counted
 * apart with their first messages. It never prints a token or a secret.
 */

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { errorText, type FromWorker, type PrepareMsg, type ToWorker } from "./protocol.js";
import { buildOp, type Op } from "./workloads.js";

const send = (m: FromWorker) => process.send?.(m);

async function loop(op: Op, callers: number, count: number, maxMs: number, base: number) {
  const latencies = new Float64Array(count);
  let next = 0;
  let done = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const t0 = performance.now();
  const deadline = t0 + maxMs;
  const caller = async () => {
    while (next < count && performance.now() < deadline) {
      const i = next++;
      const s = performance.now();
      try {
        await op(base + i);
        latencies[done++] = performance.now() - s;
      } catch (e) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push(errorText(e));
      }
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  return { latencies: latencies.slice(0, done), errors, errorSamples, elapsedMs: performance.now() - t0 };
}

/**
 * BENCH_WORKER_RUN_PROF=<folder>: a V8 CPU profile of the measured part only (no start-up, no
 * warm-up), written as <folder>/worker-<pid>.cpuprofile: what the client costs per call.
 */
async function profiled<T>(run: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_WORKER_RUN_PROF;
  if (!dir) return run();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    return await run();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(join(dir, `worker-${process.pid}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

let prepared: { msg: PrepareMsg; op: Op; close(): Promise<void> } | undefined;

process.on("message", (m: ToWorker) => {
  void (async () => {
    try {
      if (m.type === "prepare") {
        const built = await buildOp(m.spec, m.callers, m.fetchImpl);
        prepared = { msg: m, ...built };
        const w = await loop(built.op, m.callers, m.warmupOps, m.warmupMs, m.indexBase + 1_000_000);
        send({
          type: "ready",
          warmupOps: w.latencies.length,
          warmupErrors: w.errors,
          errorSamples: w.errorSamples,
        });
      } else if (m.type === "go") {
        if (!prepared) throw new Error("go before prepare");
        const { msg, op } = prepared;
        const cpu0 = process.cpuUsage();
        const r = await profiled(() => loop(op, msg.callers, msg.count, msg.maxMs, msg.indexBase));
        const cpu = process.cpuUsage(cpu0);
        send({ type: "result", ...r, cpuUs: cpu.user + cpu.system });
        await prepared.close().catch(() => {});
      }
    } catch (e) {
      send({ type: "failed", message: errorText(e) });
    }
  })();
});
// The coordinator disconnects once it has the result; its going away (or dying) ends the worker,
// so no orphan keeps loading a server.
process.on("disconnect", () => process.exit(0));
