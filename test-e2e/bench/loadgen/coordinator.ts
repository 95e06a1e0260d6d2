/**
 * The bench's load generator: `processes` worker processes (child_process.fork, never the servers'
 * processes) with `callersPerProcess` callers each, over keep-alive connections. Each worker warms
 * up, then all start together on "go"; a run is bounded by a count (split between the workers) and
 * a time limit, whichever comes first. All latencies of all workers are merged, so p50/p99 are
 * exact for the run; errors are counted apart (every answer is checked). Beside the rate it records
 * the CPU each side used (the servers' from /proc, the workers' own), which shows what bounded it.
 */
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { quantile } from "../../src/reliability/load.js";
import type { FetchImpl, FromWorker, ReadyMsg, ResultMsg, ToWorker, WorkloadSpec } from "./protocol.js";

const here = dirname(fileURLToPath(import.meta.url));

export interface DistOptions {
  name: string;
  spec: WorkloadSpec;
  processes: number;
  callersPerProcess: number;
  count: number;
  maxMs: number;
  warmupOps?: number;
  warmupMs?: number;
  fetchImpl?: FetchImpl;
  /** Server processes whose CPU use is recorded over the measured part. */
  serverPids?: number[];
  /** Timeout for a worker's setup and warm-up. */
  prepareTimeoutMs?: number;
  /** Called once every worker is warm, just before "go" (e.g. to start a profiler). */
  beforeGo?: () => Promise<void>;
  /** Called as soon as every worker has answered (e.g. to stop a profiler). */
  afterRun?: () => Promise<void>;
}

export interface DistResult {
  name: string;
  layout: string;
  callers: number;
  ops: number;
  errors: number;
  errorSamples: string[];
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Cores the generator's workers used on average over the measured part. */
  generatorCores: number;
  /** CPU µs the generator's workers used per completed operation (the client's own cost). */
  generatorUsPerOp: number;
  /** Cores the watched server processes used on average over the measured part. */
  serverCores: number;
}

const round = (x: number, d = 3) => Number(x.toFixed(d));

/** CPU time of a process so far, in seconds (utime + stime of /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

function startWorker(): ChildProcess {
  return fork(join(here, "worker.ts"), [], {
    // `--import tsx` resolves from the working folder: the repository's, whatever the caller's is.
    cwd: here,
    // BENCH_WORKER_PROF=<folder>: a V8 CPU profile of every worker (the generator's own cost).
    execArgv: [
      "--import",
      "tsx",
      ...(process.env.BENCH_WORKER_PROF
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_WORKER_PROF}`]
        : []),
    ],
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, NODE_ENV: "production" },
  });
}

/** The next message of `type` from a worker, or a rejection on failure, exit or timeout. */
function nextMessage<T extends FromWorker["type"]>(
  w: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      w.off("message", onMessage);
      w.off("exit", onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`load worker sent no ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: FromWorker) => {
      if (m.type === "failed") {
        done();
        reject(new Error(`load worker failed: ${m.message}`));
      } else if (m.type === type) {
        done();
        resolve(m as Extract<FromWorker, { type: T }>);
      }
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`load worker exited (${code}) before ${type}`));
    };
    w.on("message", onMessage);
    w.once("exit", onExit);
  });
}

export async function runDistributed(o: DistOptions): Promise<DistResult> {
  const workers = Array.from({ length: o.processes }, startWorker);
  try {
    const share = Math.ceil(o.count / o.processes);
    const prepareTimeout = o.prepareTimeoutMs ?? 120_000;
    const ready = workers.map((w) => nextMessage(w, "ready", prepareTimeout));
    workers.forEach((w, k) => {
      const m: ToWorker = {
        type: "prepare",
        spec: o.spec,
        callers: o.callersPerProcess,
        count: share,
        maxMs: o.maxMs,
        warmupOps: o.warmupOps ?? 200,
        warmupMs: o.warmupMs ?? 1_000,
        fetchImpl: o.fetchImpl ?? "pool",
        indexBase: k * share,
      };
      w.send(m);
    });
    const readies: ReadyMsg[] = await Promise.all(ready);
    const warmErrors = readies.reduce((n, r) => n + r.warmupErrors, 0);
    const warmOps = readies.reduce((n, r) => n + r.warmupOps, 0);
    if (warmOps === 0 && warmErrors > 0)
      throw new Error(`${o.name}: every warm-up operation failed: ${readies[0]?.errorSamples.join(" | ")}`);

    await o.beforeGo?.();
    const pids = o.serverPids ?? [];
    const results = workers.map((w) => nextMessage(w, "result", o.maxMs + 120_000));
    const cpu0 = pids.map(cpuSeconds);
    const t0 = performance.now();
    for (const w of workers) w.send({ type: "go" } satisfies ToWorker);
    const rs: ResultMsg[] = await Promise.all(results);
    const wall = (performance.now() - t0) / 1000;
    const serverCpu = pids.reduce((s, p, k) => s + (cpuSeconds(p) - (cpu0[k] as number)), 0);
    await o.afterRun?.();

    const total = rs.reduce((n, r) => n + r.latencies.length, 0);
    const all = new Float64Array(total);
    let off = 0;
    for (const r of rs) {
      all.set(r.latencies, off);
      off += r.latencies.length;
    }
    all.sort();
    // The run lasts as long as its slowest worker (they start within an IPC hop of each other).
    const seconds = Math.max(...rs.map((r) => r.elapsedMs)) / 1000;
    return {
      name: o.name,
      layout: `${o.processes}x${o.callersPerProcess}`,
      callers: o.processes * o.callersPerProcess,
      ops: total,
      errors: rs.reduce((n, r) => n + r.errors, 0),
      errorSamples: rs.flatMap((r) => r.errorSamples).slice(0, 5),
      seconds: round(seconds, 2),
      perSecond: round(total / seconds, 1),
      p50Ms: round(quantile(all, 0.5)),
      p99Ms: round(quantile(all, 0.99)),
      maxMs: round(all[all.length - 1] ?? Number.NaN),
      generatorCores: round(rs.reduce((s, r) => s + r.cpuUs, 0) / 1e6 / seconds, 2),
      generatorUsPerOp: round(rs.reduce((s, r) => s + r.cpuUs, 0) / Math.max(1, total), 1),
      serverCores: pids.length > 0 ? round(serverCpu / wall, 2) : Number.NaN,
    };
  } finally {
    for (const w of workers) {
      if (w.connected) w.disconnect();
      // A worker still busy after its disconnect is killed (bounded: no orphan load).
      setTimeout(() => {
        if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
      }, 5_000).unref();
    }
  }
}
