/**
 * Issue 17 probe (not a test): fdatasyncs and latency per fail-closed op at one caller, in
 * process, on a real AuditLog: intent + outcome both awaited durable (before) versus a durable
 * intent and an `appendSoon` outcome (after). Run: `npx tsx bench/outcome-syncs-probe.ts [n] [gap ms]`;
 * `gap` is the pause between calls (a client's round trip), 0 for back-to-back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { AuditLog } from "../src/index.js";

const N = Number(process.argv[2] ?? 300);
const GAP = Number(process.argv[3] ?? 0);
const actor = `noise:${Buffer.alloc(32, 7).toString("base64url")}`;

for (const mode of ["before", "after"] as const) {
  const dir = mkdtempSync(join(tmpdir(), "outcome-probe-"));
  const log = await AuditLog.open(dir, { node: "probe", timers: false });
  const syncs0 = log.syncs;
  const ms: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const { seq } = await log.appendDurable({ kind: "intent", op: "discharge", actor, org: "1" });
    const outcome = { kind: "outcome", op: "discharge", actor, intent_seq: seq, outcome: "ok" } as const;
    if (mode === "before") await log.appendDurable(outcome);
    else log.appendSoon(outcome);
    ms.push(performance.now() - t0);
    if (GAP > 0) await new Promise((r) => setTimeout(r, GAP));
  }
  await log.flush();
  const syncs = (log.syncs - syncs0) / N;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  ms.sort((a, b) => a - b);
  const q = (p: number) => (ms[Math.floor(p * ms.length)] as number).toFixed(3);
  console.log(
    `${mode} gap=${GAP}ms: fdatasync/op ${syncs.toFixed(2)}, latency median ${q(0.5)} ms p90 ${q(0.9)} ms`,
  );
}
