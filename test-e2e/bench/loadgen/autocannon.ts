/**
 * autocannon (pinned) as its own process against a plain server, to show the generator's own
 * ceiling: our generator's rate on the node:http echo over autocannon's. autocannon cannot build
 * Noise requests and checks no answer body, so it only ever drives the plain servers and the peer.
 */
import { fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export interface CannonOptions {
  url: string;
  method: "POST";
  headers: Record<string, string>;
  body: string;
  connections: number;
  seconds: number;
  warmupSeconds: number;
}

export interface CannonResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  /** Non-2xx answers, socket errors and timeouts: any of them means the figure is not a clean one. */
  errors: number;
  version: string;
}

export function runAutocannon(o: CannonOptions): Promise<CannonResult> {
  const child = fork(join(here, "autocannon-child.cjs"), [], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    env: { ...process.env, NODE_ENV: "production" },
  });
  return new Promise((resolve, reject) => {
    const limit = setTimeout(
      () => {
        child.kill("SIGKILL");
        reject(new Error("autocannon did not finish"));
      },
      (o.seconds + o.warmupSeconds + 60) * 1000,
    );
    child.once("exit", (c) => {
      clearTimeout(limit);
      reject(new Error(`autocannon exited (${c}) before answering`));
    });
    child.on("message", (m: Record<string, unknown>) => {
      clearTimeout(limit);
      child.removeAllListeners("exit");
      child.disconnect();
      if (m.type !== "result") return reject(new Error(`autocannon failed: ${String(m.message)}`));
      const n = (k: string) => Number(m[k] ?? 0);
      resolve({
        perSecond: Number((n("total") / n("seconds")).toFixed(1)),
        p50Ms: n("p50"),
        p99Ms: n("p99"),
        total: n("total"),
        errors: n("non2xx") + n("errors") + n("timeouts"),
        version: String(m.version),
      });
    });
    child.send(o);
  });
}
