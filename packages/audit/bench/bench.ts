/**
 * Audit events per second: durable (fdatasync, group-committed) with 1 and 8 concurrent
 * appenders, and buffered. `npx tsx bench/bench.ts [seconds per run, default 3]`.
 * Figures depend on the disk's fsync latency far more than on the CPU.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog } from "../src/index.js";

const seconds = Number(process.argv[2] ?? 3);
const actor = "cli:bench";

async function run(label: string, body: (log: AuditLog, until: number) => Promise<number>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "audit-bench-"));
  const log = await AuditLog.open(dir, { node: "bench-1", timers: false });
  try {
    const start = performance.now();
    const n = await body(log, start + seconds * 1000);
    const elapsed = (performance.now() - start) / 1000;
    console.log(
      `${label.padEnd(34)} ${Math.round(n / elapsed)
        .toString()
        .padStart(9)} events/s  (${log.syncs} fsyncs)`,
    );
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const event = (i: number) => ({
  kind: "event" as const,
  op: "mint",
  actor,
  outcome: "ok" as const,
  count: i,
});

async function durable(log: AuditLog, until: number, appenders: number): Promise<number> {
  let n = 0;
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      while (performance.now() < until) await log.appendDurable(event(n++));
    }),
  );
  return n;
}

await run("durable, 1 appender", (log, until) => durable(log, until, 1));
await run("durable, 8 concurrent appenders", (log, until) => durable(log, until, 8));
await run("buffered (flushed every 1 000)", async (log, until) => {
  let n = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) log.appendBuffered(event(n++));
    await log.flush();
  }
  return n;
});
