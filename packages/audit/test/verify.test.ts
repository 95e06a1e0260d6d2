/**
 * verify(dir) finds every kind of tampering, and checkpoints catch a log truncated before it was
 * shipped, on disk and in the shipped stream.
 */
import { readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AuditLine,
  AuditLog,
  canonicalJson,
  exportBulk,
  isAuditError,
  lineHash,
  noiseActor,
  verify,
  verifyShipped,
} from "../src/index.js";
import { fileLines, manualClock, randomKey, tempDir } from "./fixtures/helpers.js";

const actor = noiseActor(randomKey());
let d: string;
let cleanup: () => void;
let segments: string[];

/** A closed log of ~80 lines in several segments, with sidecar checkpoints along the way. */
beforeEach(async () => {
  ({ dir: d, cleanup } = tempDir("verify"));
  const log = await AuditLog.open(d, {
    node: "iad-1",
    timers: false,
    clock: manualClock().now,
    maxFileBytes: 4096,
  });
  for (let i = 0; i < 70; i++) {
    await log.appendDurable({ kind: "event", op: "verify", actor, outcome: "ok", count: i });
    if (i % 20 === 19) await log.checkpoint();
  }
  await log.close();
  segments = readdirSync(d)
    .filter((f) => f.startsWith("audit-"))
    .sort();
});
afterEach(() => cleanup());

const seg = (i: number) => join(d, segments.at(i) as string);
function editLines(path: string, fn: (lines: string[]) => string[]): void {
  writeFileSync(path, `${fn(fileLines(path)).join("\n")}\n`);
}
async function docsOf(dir: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const pair of exportBulk(dir, { indexPrefix: "tkdb-audit", verify: false }))
    out.push(JSON.parse(pair.split("\n")[1] as string));
  return out;
}

describe("verify", () => {
  it("accepts the untouched log", async () => {
    expect(segments.length).toBeGreaterThan(3);
    const r = await verify(d);
    expect(r).toMatchObject({ ok: true });
    expect(r.ok && r.checkpoints).toBeGreaterThan(3);
  });

  it("hands each verified line to onLine in seq order, and stops handing them at the first bad line", async () => {
    const seen: number[] = [];
    const r = await verify(d, { onLine: (l) => seen.push(l.seq) });
    expect(r.ok).toBe(true);
    expect(seen).toEqual(Array.from({ length: r.lines }, (_, i) => i + 1));
    editLines(seg(1), (ls) => ls.map((l, i) => (i === 3 ? l.replace(/"count":(\d+)/, '"count":999') : l)));
    const after: number[] = [];
    const bad = await verify(d, { onLine: (l) => after.push(l.seq) });
    expect(bad.ok).toBe(false);
    expect(after.length).toBe(bad.lines);
    expect(after.length).toBeLessThan(seen.length);
  });

  it("detects an edited value (hash mismatch)", async () => {
    editLines(seg(1), (ls) => ls.map((l, i) => (i === 3 ? l.replace(/"count":(\d+)/, '"count":999') : l)));
    expect(await verify(d)).toMatchObject({
      ok: false,
      failure: "hash_mismatch",
      file: segments[1],
      line: 4,
    });
  });

  it("detects an edited line whose own hash was recomputed (the next line's prev no longer matches)", async () => {
    editLines(seg(1), (ls) =>
      ls.map((l, i) => {
        if (i !== 3) return l;
        const { hash: _h, ...rest } = JSON.parse(l) as AuditLine;
        const edited = { ...rest, count: 999 };
        return canonicalJson({ ...edited, hash: lineHash(edited) });
      }),
    );
    expect(await verify(d)).toMatchObject({ ok: false, failure: "prev_mismatch", line: 5 });
  });

  it("detects a byte edit that keeps the meaning (not canonical)", async () => {
    editLines(seg(1), (ls) => ls.map((l, i) => (i === 2 ? l.replace('"kind"', ' "kind"') : l)));
    expect(await verify(d)).toMatchObject({ ok: false, failure: "bad_line" });
  });

  it("detects a deleted line (seq gap)", async () => {
    editLines(seg(1), (ls) => ls.filter((_, i) => i !== 2));
    expect(await verify(d)).toMatchObject({ ok: false, failure: "seq_gap", line: 3 });
  });

  it("detects reordered lines", async () => {
    editLines(seg(1), (ls) => {
      const out = [...ls];
      [out[2], out[3]] = [out[3] as string, out[2] as string];
      return out;
    });
    expect(await verify(d)).toMatchObject({ ok: false, failure: "seq_gap", line: 3 });
  });

  it("detects a deleted rotated file in the middle", async () => {
    rmSync(seg(1));
    expect(await verify(d)).toMatchObject({ ok: false, failure: "rotated_file_missing", file: segments[2] });
  });

  it("detects the oldest file deleted", async () => {
    rmSync(seg(0));
    expect(await verify(d)).toMatchObject({ ok: false, failure: "rotated_file_missing" });
  });

  it("detects a file cut mid-line (torn line)", async () => {
    truncateSync(seg(1), readFileSync(seg(1)).length - 10);
    expect(await verify(d)).toMatchObject({ ok: false, failure: "torn_line", file: segments[1] });
  });

  it("detects whole lines cut from the end: the last checkpoint names a seq beyond the log", async () => {
    editLines(seg(-1), (ls) => ls.slice(0, 1));
    expect(await verify(d)).toMatchObject({ ok: false, failure: "truncated" });
  });

  it("detects the newest segment deleted outright", async () => {
    rmSync(seg(-1));
    expect(await verify(d)).toMatchObject({ ok: false, failure: "truncated" });
  });

  it("refuses to reopen (and extend) a truncated log", async () => {
    editLines(seg(-1), (ls) => ls.slice(0, 1));
    await expect(AuditLog.open(d, { node: "iad-1", timers: false })).rejects.toSatisfy((e) =>
      isAuditError(e, "integrity"),
    );
  });
});

describe("verifyShipped", () => {
  it("accepts the shipped stream in any order, with duplicates (a re-ship)", async () => {
    const docs = await docsOf(d);
    const shuffled = [...docs].reverse().concat(docs.slice(0, 10));
    const r = verifyShipped(shuffled);
    expect(r).toMatchObject({ ok: true, nodes: [{ node: "iad-1", lines: fileLinesCount() }] });
  });

  it("detects a log truncated before shipping: the shipped checkpoints name lines the stream lacks", async () => {
    // Cut the newest segments down, as a local attacker would before the shipper reads them.
    for (const s of segments.slice(-2)) rmSync(join(d, s));
    const docs = await docsOf(d);
    const r = verifyShipped(docs);
    expect(r).toMatchObject({ ok: false, failure: "truncated", node: "iad-1" });
  });

  it("detects a line deleted before shipping", async () => {
    editLines(seg(2), (ls) => ls.filter((_, i) => i !== 1));
    expect(verifyShipped(await docsOf(d))).toMatchObject({ ok: false, failure: "seq_gap" });
  });

  it("detects a fork: a rewritten event shipped beside the original", async () => {
    const docs = (await docsOf(d)) as Record<string, unknown>[];
    const target = docs.find((x) => x.seq === 10) as Record<string, unknown>;
    const { hash: _h, "@timestamp": _t, event_id: _e, ...rest } = target;
    const forged = { ...rest, count: 12345 } as Record<string, unknown>;
    forged.hash = lineHash(forged as never);
    expect(verifyShipped([...docs, forged])).toMatchObject({ ok: false, failure: "fork", seq: 10 });
  });

  it("refuses a shipped document whose hash does not match", async () => {
    const docs = (await docsOf(d)) as Record<string, unknown>[];
    (docs[5] as Record<string, unknown>).op = "mint";
    expect(verifyShipped(docs)).toMatchObject({ ok: false, failure: "hash_mismatch" });
  });
});

function fileLinesCount(): number {
  return segments.reduce((n, s) => n + fileLines(join(d, s)).length, 0);
}
