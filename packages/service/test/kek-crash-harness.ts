/**
 * The kill -9 harness of the KEK rotation crash tests (this package's, tkdb's and petsem's): a
 * worker process runs a rotation and freezes at a chosen point, inside the rotation's transaction
 * after `stopAt` rows, or just after the commit; the test kills it there with SIGKILL and then
 * checks which KEK opens what is on disk. Not a test file.
 *
 * Test side: `rotateAndKill(worker, cwd, args)`, then `whichOpen(…)`. Worker side:
 * `runCrashWorker((args, keys, afterWrite) => rotate…)`.
 */
import { spawn } from "node:child_process";
import { writeSync } from "node:fs";

/** Where the worker freezes: after this many rows written inside the transaction, or after commit. */
export type StopAt = number | "commit";

/**
 * Runs `worker` (a TypeScript file, through tsx, in `cwd`) with `args` as JSON in argv[2] until it
 * prints FROZEN, then kills it with SIGKILL. Rejects when it ends any other way (it finished, or
 * failed, before reaching its stop point).
 */
export function rotateAndKill<A extends { stopAt: StopAt }>(
  worker: string,
  cwd: string,
  args: A,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", worker, JSON.stringify(args)], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("FROZEN") || out.includes("DONE")) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL" && out.includes("FROZEN")) resolve();
      else reject(new Error(`worker ended ${code ?? signal} before freezing: ${out} ${err}`));
    });
  });
}

/** Tells the parent, then blocks this process for good (until the SIGKILL). */
function freeze(): void {
  writeSync(1, "FROZEN\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** The worker's side: `afterWrite` for the rotation's test seam, `committed()` once it returned. */
export function crashPoint(stopAt: StopAt): { afterWrite: (written: number) => void; committed: () => void } {
  return {
    afterWrite: (written) => {
      if (written === stopAt) freeze();
    },
    committed: () => {
      if (stopAt === "commit") freeze();
      writeSync(1, "DONE\n");
    },
  };
}

/**
 * The worker's whole body: reads argv[2] (JSON with `kek` and `next` in hex and `stopAt`), runs
 * `rotate` with the two keys and the crash point's `afterWrite`, then freezes after the commit
 * when `stopAt` is "commit".
 */
export function runCrashWorker<A extends object>(
  rotate: (
    args: A,
    keys: { kek: Uint8Array; next: Uint8Array },
    afterWrite: (written: number) => void,
  ) => void,
): void {
  const args = JSON.parse(process.argv[2] ?? "{}") as A & { kek: string; next: string; stopAt: StopAt };
  const key = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
  const stop = crashPoint(args.stopAt);
  rotate(args, { kek: key(args.kek), next: key(args.next) }, stop.afterWrite);
  stop.committed();
}

/**
 * Which of the two KEKs opens what the kill left: `opens(kek)` is true when every sealed field
 * reads back with that KEK alone; an error `wrongKek` accepts (the check value names another KEK)
 * counts as not opening, any other error fails the test. The property: exactly one, always.
 */
export function whichOpen(
  old: Uint8Array,
  next: Uint8Array,
  opens: (kek: Uint8Array) => boolean,
  wrongKek: (e: unknown) => boolean,
): ("old" | "new")[] {
  const out: ("old" | "new")[] = [];
  for (const [name, kek] of [
    ["old", old],
    ["new", next],
  ] as const) {
    try {
      if (opens(kek)) out.push(name);
    } catch (e) {
      if (!wrongKek(e)) throw e;
    }
  }
  return out;
}
