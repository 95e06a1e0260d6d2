import { appendFileSync, cpSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type AuditLine, AuditLog, isAuditError, noiseActor, verify } from "../src/index.js";
import { fileLines, manualClock, randomKey, tempDir } from "./fixtures/helpers.js";

const actor = noiseActor(randomKey());
const cleanups: (() => void)[] = [];
const logs: AuditLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  for (const c of cleanups.splice(0)) c();
});

function dir(label: string): string {
  const t = tempDir(label);
  cleanups.push(t.cleanup);
  return t.dir;
}

async function open(d: string, opts: Partial<Parameters<typeof AuditLog.open>[1]> = {}): Promise<AuditLog> {
  const log = await AuditLog.open(d, { node: "iad-1", timers: false, clock: manualClock().now, ...opts });
  logs.push(log);
  return log;
}

function allLines(d: string): AuditLine[] {
  return readdirSync(d)
    .filter((f) => f.startsWith("audit-"))
    .sort()
    .flatMap((f) => fileLines(join(d, f)).map((l) => JSON.parse(l) as AuditLine));
}

/** The directory as a crash would leave it: a copy of the files, the live log abandoned. */
function crashCopy(d: string): string {
  const copy = dir("crash");
  cpSync(d, copy, { recursive: true });
  return copy;
}

const ev = (i: number) => ({ kind: "event" as const, op: "verify", actor, outcome: "ok" as const, count: i });

describe("AuditLog", () => {
  it("starts a new chain with a checkpoint at seq 1 and appends lines that verify", async () => {
    const d = dir("new");
    const log = await open(d);
    await log.appendDurable(ev(1));
    const lines = allLines(d);
    expect(lines.map((l) => [l.seq, l.kind])).toEqual([
      [1, "checkpoint"],
      [2, "event"],
    ]);
    expect(lines[0]?.prev).toBe("0".repeat(64));
    expect(lines[1]?.prev).toBe(lines[0]?.hash);
    expect(await verify(d)).toMatchObject({ ok: true, lines: 2 });
  });

  it("durable appends are on disk when they resolve, and concurrent ones share fsyncs (group commit)", async () => {
    const d = dir("group");
    const log = await open(d);
    const before = log.syncs;
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => log.appendDurable(ev(i))));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 64 }, (_, i) => i + 2));
    const onDisk = allLines(d);
    expect(onDisk.length).toBe(65);
    expect(onDisk.slice(1).map((l) => l.count)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(log.syncs - before).toBeLessThan(64);
    expect(log.syncs - before).toBeGreaterThanOrEqual(1);
  });

  it("buffered appends are chained at once but reach the disk only with the next flush", async () => {
    const d = dir("buffered");
    const log = await open(d);
    const a = log.appendBuffered(ev(1));
    expect(a.seq).toBe(2);
    expect(allLines(d).length).toBe(1);
    await log.flush();
    expect(allLines(d).length).toBe(2);
    const b = log.appendBuffered(ev(2));
    await log.appendDurable(ev(3));
    expect(allLines(d).map((l) => l.seq)).toEqual([1, 2, b.seq, b.seq + 1]);
  });

  it("an outcome appended with appendSoon is chained at once and shares the next durable append's fdatasync", async () => {
    const d = dir("soon-group");
    const log = await open(d, { soonFlushMs: 60_000 });
    const intent = await log.appendDurable({ kind: "intent", op: "discharge", actor, org: "o1" });
    const before = log.syncs;
    const out = log.appendSoon({
      kind: "outcome",
      op: "discharge",
      actor,
      intent_seq: intent.seq,
      outcome: "ok",
    });
    expect(out.seq).toBe(intent.seq + 1);
    expect(log.pendingIntents()).toEqual([]);
    const next = await log.appendDurable({ kind: "intent", op: "discharge", actor, org: "o1" });
    expect(log.syncs - before).toBe(1);
    expect(allLines(d).map((l) => l.seq)).toEqual([1, intent.seq, out.seq, next.seq]);
  });

  it("an outcome appended with appendSoon reaches the disk on its own within the short flush timer", async () => {
    const d = dir("soon-timer");
    const log = await open(d);
    const intent = await log.appendDurable({ kind: "intent", op: "resolve", actor, org: "o1" });
    const out = log.appendSoon({
      kind: "outcome",
      op: "resolve",
      actor,
      intent_seq: intent.seq,
      outcome: "ok",
    });
    // bounded polling on the condition (the timer is 5 ms; a busy machine may take longer)
    const deadline = Date.now() + 10_000;
    while (!allLines(d).some((l) => l.seq === out.seq) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    expect(allLines(d).find((l) => l.seq === out.seq)).toMatchObject({
      kind: "outcome",
      intent_seq: intent.seq,
    });
  });

  it("appendSoon is refused at once by a closed log (so a fail-closed op can still refuse its reply)", async () => {
    const d = dir("soon-closed");
    const log = await open(d);
    const intent = await log.appendDurable({ kind: "intent", op: "resolve", actor, org: "o1" });
    await log.close();
    expect(() =>
      log.appendSoon({ kind: "outcome", op: "resolve", actor, intent_seq: intent.seq, outcome: "ok" }),
    ).toThrow(/closed/);
  });

  it("reconcile writes an intent decided 'unknown' as outcome error, code outcome_unknown, and the chain verifies", async () => {
    const d = dir("unknown");
    const log = await open(d);
    const intent = await log.appendDurable({ kind: "intent", op: "discharge", actor, org: "o1" });
    const copy = crashCopy(d);
    const reopened = await open(copy);
    expect(await reopened.reconcile(() => "unknown")).toBe(1);
    const out = allLines(copy).filter((l) => l.reconciled);
    expect(out.map((o) => [o.intent_seq, o.op, o.outcome, o.code, o.org])).toEqual([
      [intent.seq, "discharge", "error", "outcome_unknown", "o1"],
    ]);
    await reopened.close();
    expect(await verify(copy)).toMatchObject({ ok: true });
  });

  it("rotates by size: each segment is named by its first seq, starts with a checkpoint, and the chain continues", async () => {
    const d = dir("rotate");
    const log = await open(d, { maxFileBytes: 2048 });
    for (let i = 0; i < 60; i++) await log.appendDurable(ev(i));
    const files = readdirSync(d)
      .filter((f) => f.startsWith("audit-"))
      .sort();
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      const first = JSON.parse(fileLines(join(d, f))[0] as string) as AuditLine;
      expect(first.kind).toBe("checkpoint");
      expect(f).toBe(`audit-${String(first.seq).padStart(12, "0")}.jsonl`);
      expect(first.file).toBe(f);
      expect(statSync(join(d, f)).size).toBeLessThanOrEqual(2048);
    }
    await log.close();
    const again = await open(d, { maxFileBytes: 2048 });
    await again.appendDurable(ev(99));
    expect(await verify(d)).toMatchObject({ ok: true });
  });

  it("cuts a torn last line after a crash, keeps every complete line, and records the repair", async () => {
    const d = dir("torn");
    const log = await open(d);
    for (let i = 0; i < 5; i++) await log.appendDurable(ev(i));
    const copy = crashCopy(d);
    const seg = readdirSync(copy).find((f) => f.startsWith("audit-")) as string;
    appendFileSync(join(copy, seg), '{"v":1,"seq":7,"ts":"2025-01-02T03:04:05.006Z","node":"iad-1","ki');
    expect((await verify(copy)).ok).toBe(false);
    const reopened = await open(copy);
    expect(reopened.tornBytes).toBeGreaterThan(0);
    const lines = allLines(copy);
    expect(lines.slice(0, 6).map((l) => l.hash)).toEqual(allLines(d).map((l) => l.hash));
    expect(lines[6]).toMatchObject({ op: "audit_repair", count: reopened.tornBytes });
    expect(await verify(copy)).toMatchObject({ ok: true });
  });

  it("cuts a zero-filled tail (a crash after the size grew, before the data)", async () => {
    const d = dir("zeros");
    const log = await open(d);
    await log.appendDurable(ev(1));
    const copy = crashCopy(d);
    const seg = readdirSync(copy).find((f) => f.startsWith("audit-")) as string;
    appendFileSync(join(copy, seg), Buffer.alloc(4096));
    const reopened = await open(copy);
    expect(reopened.tornBytes).toBe(4096);
    expect(await verify(copy)).toMatchObject({ ok: true });
  });

  it("never removes a complete line that does not verify: open refuses with integrity", async () => {
    const d = dir("corrupt");
    const log = await open(d);
    for (let i = 0; i < 3; i++) await log.appendDurable(ev(i));
    const copy = crashCopy(d);
    const seg = join(copy, readdirSync(copy).find((f) => f.startsWith("audit-")) as string);
    const text = readFileSync(seg, "utf8");
    writeFileSync(seg, text.replace('"count":1', '"count":2'));
    const before = readFileSync(seg, "utf8");
    await expect(AuditLog.open(copy, { node: "iad-1", timers: false })).rejects.toSatisfy((e) =>
      isAuditError(e, "integrity"),
    );
    expect(readFileSync(seg, "utf8")).toBe(before);
  });

  it("refuses a second writer on the same directory", async () => {
    const d = dir("lock");
    await open(d);
    await expect(AuditLog.open(d, { node: "iad-1", timers: false })).rejects.toSatisfy((e) =>
      isAuditError(e, "audit_unavailable"),
    );
  });

  it("refuses another node's directory", async () => {
    const d = dir("node");
    const log = await open(d);
    await log.close();
    await expect(AuditLog.open(d, { node: "ams-2", timers: false })).rejects.toSatisfy((e) =>
      isAuditError(e, "invalid_request"),
    );
  });

  it("finds intents without outcomes after a crash, across a rotation, and reconcile closes them", async () => {
    const d = dir("intents");
    const log = await open(d, { maxFileBytes: 1500 });
    const committed = await log.appendDurable({
      kind: "intent",
      op: "mint",
      actor,
      org: "o1",
      rid: "rid-committed",
    });
    const done = await log.appendDurable({ kind: "intent", op: "revoke", actor, org: "o1" });
    await log.appendDurable({ kind: "outcome", op: "revoke", actor, intent_seq: done.seq, outcome: "ok" });
    for (let i = 0; i < 20; i++) await log.appendDurable(ev(i));
    const lost = await log.appendDurable({ kind: "intent", op: "org_create", actor, org: "o2" });
    const copy = crashCopy(d);
    expect(readdirSync(copy).filter((f) => f.startsWith("audit-")).length).toBeGreaterThan(1);

    const reopened = await open(copy, { maxFileBytes: 1500 });
    const pending = reopened.pendingIntents();
    expect(pending.map((p) => p.seq).sort((a, b) => a - b)).toEqual([committed.seq, lost.seq]);
    const n = await reopened.reconcile((intent) => (intent.rid === "rid-committed" ? "ok" : "aborted"));
    expect(n).toBe(2);
    expect(reopened.pendingIntents()).toEqual([]);
    const outcomes = allLines(copy).filter((l) => l.reconciled);
    expect(outcomes.map((o) => [o.intent_seq, o.outcome, o.op, o.org])).toEqual(
      expect.arrayContaining([
        [committed.seq, "ok", "mint", "o1"],
        [lost.seq, "aborted", "org_create", "o2"],
      ]),
    );
    await reopened.close();
    const third = await open(copy, { maxFileBytes: 1500 });
    expect(third.pendingIntents()).toEqual([]);
  });

  it("refuses an outcome for an intent that is not open (typo'd seq, a second outcome, another op)", async () => {
    const log = await open(dir("outcome"));
    const i = await log.appendDurable({ kind: "intent", op: "mint", actor });
    await expect(
      log.appendDurable({ kind: "outcome", op: "revoke", actor, intent_seq: i.seq, outcome: "ok" }),
    ).rejects.toSatisfy((e) => isAuditError(e, "conflict"));
    await log.appendDurable({ kind: "outcome", op: "mint", actor, intent_seq: i.seq, outcome: "ok" });
    await expect(
      log.appendDurable({ kind: "outcome", op: "mint", actor, intent_seq: i.seq, outcome: "ok" }),
    ).rejects.toSatisfy((e) => isAuditError(e, "conflict"));
  });

  it("aggregates feed polls into one counter line per client and outcome per window", async () => {
    const d = dir("counter");
    const clock = manualClock();
    const log = await open(d, { clock: clock.now });
    const other = noiseActor(randomKey());
    for (let i = 0; i < 500; i++) log.count({ op: "revocations", actor });
    for (let i = 0; i < 3; i++) log.count({ op: "revocations", actor: other });
    log.count({ op: "revocations", actor: other, outcome: "refused", code: "unauthorized" });
    clock.advance(60_000);
    log.flushCounters();
    await log.flush();
    const counters = allLines(d).filter((l) => l.kind === "counter");
    expect(counters.map((c) => [c.actor, c.outcome, c.code, c.count])).toEqual([
      [actor, "ok", undefined, 500],
      [other, "ok", undefined, 3],
      [other, "refused", "unauthorized", 1],
    ]);
    expect(counters[0]?.window_start).toBe(new Date(clock.now() - 60_000).toISOString());
  });

  it("writes checkpoints to the log and to the sidecar, only after the line is on disk", async () => {
    const d = dir("checkpoint");
    const log = await open(d);
    await log.appendDurable(ev(1));
    const cp = await log.checkpoint();
    const sidecar = fileLines(join(d, "checkpoints.jsonl")).map((l) => JSON.parse(l));
    expect(sidecar.at(-1)).toMatchObject({ kind: "head", node: "iad-1", seq: cp.seq, hash: cp.hash });
    expect(allLines(d).at(-1)).toMatchObject({ seq: cp.seq, kind: "checkpoint", head_seq: cp.seq - 1 });
  });

  it("refuses appends after close", async () => {
    const log = await open(dir("closed"));
    await log.close();
    await expect(log.appendDurable(ev(1))).rejects.toSatisfy((e) => isAuditError(e, "audit_unavailable"));
    expect(() => log.appendBuffered(ev(1))).toThrow();
  });
});
