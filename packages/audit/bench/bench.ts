/**
 * Audit events per second through `AuditLog`, beside the disk's floor, measured in one run:
 *
 * - the floor: bare fdatasync rate of the same disk (append a line of an event's size to a file in
 *   the same folder, fdatasync, repeat; one writer), what a durable append can never beat per sync;
 * - durable: `appendDurable` (fail-closed: resolves after fdatasync, appends made during a sync
 *   share the next one: group commit) with 1 and with 8 concurrent appenders;
 * - buffered: `appendBuffered` (verify, feed reads), flushed every 1 000 events.
 *
 * Figures depend on the disk's fsync latency far more than on the CPU. Run: `pnpm bench` here, or
 * `npx tsx bench/bench.ts [seconds per run, default 3]`; BENCH_QUICK=1 runs 0.5 s each. Ends with
 * one JSON line; its `performance` object goes into docs/performance.json (`npm run bench`).
 * `audit_events_per_s` is the durable rate at 8 concurrent appenders.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog } from "../src/index.js";

const QUICK = process.env.BENCH_QUICK === "1";
const seconds = Number(process.argv[2] ?? (QUICK ? 0.5 : 3));
// A signing client, as tkdb names it (noise:<base64url public key>; public keys are not secret).
const actor = `noise:${Buffer.alloc(32, 7).toString("base64url")}`;

interface Rate {
  per_s: number;
  events: number;
  fsyncs: number;
  events_per_fsync: number;
}

const rate = (n: number, syncs: number, elapsedS: number): Rate => ({
  per_s: Math.round(n / elapsedS),
  events: n,
  fsyncs: syncs,
  events_per_fsync: syncs > 0 ? Math.round((n / syncs) * 10) / 10 : 0,
});

const event = (i: number) => ({
  kind: "event" as const,
  op: "discharge",
  actor,
  outcome: "ok" as const,
  org: "7",
  app: "42",
  count: i,
});

async function run(label: string, body: (log: AuditLog, until: number) => Promise<number>): Promise<Rate> {
  const dir = mkdtempSync(join(tmpdir(), "audit-bench-"));
  const log = await AuditLog.open(dir, { node: "bench-1", timers: false });
  try {
    const syncs0 = log.syncs;
    const start = performance.now();
    const n = await body(log, start + seconds * 1000);
    const r = rate(n, log.syncs - syncs0, (performance.now() - start) / 1000);
    console.error(`${label.padEnd(34)} ${String(r.per_s).padStart(9)} events/s  (${r.fsyncs} fsyncs)`);
    return r;
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The disk's floor: one writer appending a line and fdatasync'ing it, as fast as it can. */
async function fdatasyncFloor(): Promise<Rate> {
  const dir = mkdtempSync(join(tmpdir(), "audit-bench-floor-"));
  const fh = await open(join(dir, "floor.jsonl"), "a", 0o600);
  try {
    const line = Buffer.from(`${"x".repeat(299)}\n`); // about one event line
    let n = 0;
    const start = performance.now();
    const until = start + seconds * 1000;
    while (performance.now() < until) {
      await fh.write(line);
      await fh.datasync();
      n++;
    }
    const r = rate(n, n, (performance.now() - start) / 1000);
    console.error(`${"bare fdatasync (the floor)".padEnd(34)} ${String(r.per_s).padStart(9)} syncs/s`);
    return r;
  } finally {
    await fh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function durable(log: AuditLog, until: number, appenders: number): Promise<number> {
  let n = 0;
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      while (performance.now() < until) await log.appendDurable(event(n++));
    }),
  );
  return n;
}

const t0 = performance.now();
const floor = await fdatasyncFloor();
const durable1 = await run("durable, 1 appender", (log, until) => durable(log, until, 1));
const durable8 = await run("durable, 8 concurrent appenders", (log, until) => durable(log, until, 8));
const buffered = await run("buffered (flushed every 1 000)", async (log, until) => {
  let n = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) log.appendBuffered(event(n++));
    await log.flush();
  }
  return n;
});
// A second floor after the log's runs: the disk's rate may drift on a shared machine.
const floorAfter = await fdatasyncFloor();

const r2 = (x: number) => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({
    bench: "@tkdb/audit",
    node: process.version,
    quick: QUICK,
    seconds_per_run: seconds,
    fdatasync_floor: { before: floor, after: floorAfter },
    durable_1: durable1,
    durable_8: durable8,
    buffered,
    durable_8_vs_floor: r2(durable8.per_s / Math.max(floor.per_s, floorAfter.per_s, 1)),
    seconds: Math.round((performance.now() - t0) / 1000),
    performance: {
      audit_events_per_s: durable8.per_s,
      audit_events_per_s_durable_1: durable1.per_s,
      audit_events_per_s_buffered: buffered.per_s,
      audit_fdatasync_floor_per_s: Math.max(floor.per_s, floorAfter.per_s),
    },
  }),
);
