import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AUDIT_FIELDS,
  AuditLog,
  auditExportCommand,
  auditVerifyCommand,
  EXPORT_FIELDS,
  exportBulk,
  isAuditError,
  noiseActor,
  ship,
  verifyShipped,
} from "../src/index.js";
import { startFakeBulk } from "./fixtures/fake-bulk.js";
import { manualClock, randomKey, tempDir } from "./fixtures/helpers.js";

const actor = noiseActor(randomKey());
const STRICT = [...Object.keys(AUDIT_FIELDS), ...Object.keys(EXPORT_FIELDS)];
let dir: string;
let cleanup: () => void;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir("export"));
  const clock = manualClock(Date.UTC(2025, 5, 30, 23, 59, 0));
  const log = await AuditLog.open(dir, {
    node: "iad-1",
    timers: false,
    clock: clock.now,
    maxFileBytes: 4096,
  });
  for (let i = 0; i < 40; i++) {
    await log.appendDurable({ kind: "event", op: "verify", actor, outcome: "ok", count: i });
    clock.advance(3_000);
    if (i % 10 === 9) await log.checkpoint();
  }
  await log.close();
});
afterAll(() => cleanup());

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("export", () => {
  it("writes _bulk create actions into a per-day index, with an id from node, seq and hash", async () => {
    const pairs = await collect(exportBulk(dir, { indexPrefix: "tkdb-audit" }));
    const actions = pairs.map(
      (p) => JSON.parse(p.split("\n")[0] as string) as { create: { _index: string; _id: string } },
    );
    expect(new Set(actions.map((a) => a.create._index))).toEqual(
      new Set(["tkdb-audit-2025.06.30", "tkdb-audit-2025.07.01"]),
    );
    expect(actions[1]?.create._id).toMatch(/^iad-1:2:[0-9a-f]{16}$/);
    expect(actions.some((a) => a.create._id.startsWith("iad-1:head:"))).toBe(true);
    for (const p of pairs) {
      expect(p.endsWith("\n")).toBe(true);
      const doc = JSON.parse(p.split("\n")[1] as string) as Record<string, unknown>;
      expect(Object.keys(doc).every((k) => STRICT.includes(k))).toBe(true);
      expect(doc["@timestamp"]).toBe(doc.ts);
    }
  });

  it("exports from a seq onward", async () => {
    const pairs = await collect(exportBulk(dir, { indexPrefix: "tkdb-audit", fromSeq: 30 }));
    const seqs = pairs.map((p) => (JSON.parse(p.split("\n")[1] as string) as { seq: number }).seq);
    expect(Math.min(...seqs)).toBe(30);
  });

  it("ships to a _bulk endpoint: retries a 503, passes headers through, and a re-ship creates nothing twice", async () => {
    const bulk = await startFakeBulk({ strictFields: STRICT });
    try {
      bulk.failRequests(2, 503);
      const first = await ship(bulk.url, exportBulk(dir, { indexPrefix: "tkdb-audit" }), {
        batch: 7,
        backoffMs: 5,
        headers: { authorization: "Basic c2VjcmV0" },
      });
      expect(first.created).toBe(first.documents);
      expect(bulk.docs.size).toBe(first.documents);
      expect(bulk.requests[0]?.headers.authorization).toBe("Basic c2VjcmV0");
      const again = await ship(bulk.url, exportBulk(dir, { indexPrefix: "tkdb-audit" }), { batch: 50 });
      expect(again).toMatchObject({ created: 0, duplicates: first.documents });
      expect(verifyShipped([...bulk.docs.values()].map((x) => x.doc))).toMatchObject({ ok: true });
    } finally {
      await bulk.close();
    }
  });

  it("retries an item the endpoint throttled (429) alone", async () => {
    const bulk = await startFakeBulk();
    try {
      const pairs = await collect(exportBulk(dir, { indexPrefix: "tkdb-audit" }));
      const id = (JSON.parse(pairs[3]?.split("\n")[0] as string) as { create: { _id: string } }).create._id;
      bulk.throttleItemOnce(id);
      const r = await ship(bulk.url, pairs, { batch: 10, backoffMs: 1 });
      expect(r.created).toBe(pairs.length);
      expect(bulk.docs.has(id)).toBe(true);
    } finally {
      await bulk.close();
    }
  });

  it("fails with a typed error naming the event and the error type when an item is refused (errors: true)", async () => {
    const bulk = await startFakeBulk({ strictFields: ["seq"] });
    try {
      const err = await ship(bulk.url, exportBulk(dir, { indexPrefix: "tkdb-audit" }), { batch: 5 }).catch(
        (e) => e,
      );
      expect(isAuditError(err, "unavailable")).toBe(true);
      expect(String(err.message)).toMatch(/strict_dynamic_mapping_exception/);
      expect(String(err.message)).not.toMatch(/noise:/);
    } finally {
      await bulk.close();
    }
  });

  it("gives up with unavailable after its attempts when the endpoint stays down", async () => {
    const bulk = await startFakeBulk();
    try {
      bulk.failRequests(100, 502);
      const err = await ship(bulk.url, ["{}\n{}\n"], { attempts: 3, backoffMs: 1 }).catch((e) => e);
      expect(isAuditError(err, "unavailable")).toBe(true);
    } finally {
      await bulk.close();
    }
  });

  it("refuses credentials in the URL (they would end up in errors and process listings)", async () => {
    await expect(ship("http://user:pw@127.0.0.1:9/", [])).rejects.toSatisfy((e) =>
      isAuditError(e, "invalid_request"),
    );
  });

  it("the verify and export commands print a verdict and the documents", async () => {
    let out = "";
    const append = (t: string) => {
      out += t;
    };
    expect(await auditVerifyCommand(dir, { out: append })).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ ok: true });
    out = "";
    expect(await auditExportCommand(dir, { indexPrefix: "petsem-audit" }, { out: append })).toBe(0);
    expect(out.split("\n").filter(Boolean).length % 2).toBe(0);
    expect(out).toContain("petsem-audit-2025.06.30");
  });
});
