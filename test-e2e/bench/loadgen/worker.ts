/**
 * One load-generator process (forked by coordinator.ts): builds its workload, warms it up (JIT,
 * keep-alive connections, Noise sessions), says ready, and on "go" runs its callers until its share
 * of the count is done or its time is up. Every latency is kept (no sampling); errors are counted
 * apart with their first messages. It never prints a token or a secret.
 */

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
        const r = await loop(op, msg.callers, msg.count, msg.maxMs, msg.indexBase);
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
