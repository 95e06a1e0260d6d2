/**
 * The audit trail on @tkdb/audit's file log (src/audit-log.ts), through the audited store the RPCs
 * use: fail-closed intents (P7), no value without its outcome (P8), reconcile after a crash,
 * refusals recorded, never a value, and the idempotency bound.
 */
import { cpSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type AuditEventInput, AuditLog, verify } from "@tkdb/audit";
import { describe, expect, it, onTestFinished } from "vitest";
import { type AuditTrail, PetsemAudit } from "../src/audit-log.js";
import { isPetsemError } from "../src/errors.js";
import type { SecretStore } from "../src/store.js";
import { auditLines } from "./audit-lines.js";
import { APP, freshStore, ORG, tempDir } from "./helpers.js";

async function openLog(dir: string): Promise<AuditLog> {
  const log = await AuditLog.open(dir, { node: "n1", timers: false });
  onTestFinished(() => log.close().catch(() => undefined));
  return log;
}

/**
 * The real log, except that appends matching `fail` are refused like a broken log (a durable one
 * as a failed fsync, an outcome at once).
 */
function failing(log: AuditLog, fail: { when: ((e: AuditEventInput) => boolean) | null }): AuditTrail {
  return {
    dir: log.dir,
    appendDurable: (e) => (fail.when?.(e) ? Promise.reject(new Error("disk full")) : log.appendDurable(e)),
    appendSoon: (e) => {
      if (fail.when?.(e)) throw new Error("disk full");
      return log.appendSoon(e);
    },
    appendBuffered: (e) => log.appendBuffered(e),
    reconcile: (d) => log.reconcile(d),
    flush: () => log.flush(),
    close: () => log.close(),
    pendingIntents: () => log.pendingIntents(),
  };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isPetsemError(e)) return e.code;
    throw e;
  }
  throw new Error("expected a refusal");
}

function state(store: SecretStore): string {
  return JSON.stringify([store.appVersions(), store.list({ org: ORG, app: APP }).secrets]);
}

describe("petsem audit on the file log", () => {
  it("P7: when the intent cannot be written durably, no mutation or resolve runs: audit_unavailable, nothing changed", async () => {
    const { store } = freshStore("native");
    const fail: { when: ((e: AuditEventInput) => boolean) | null } = { when: null };
    const audit = PetsemAudit.over(failing(await openLog(tempDir()), fail), "n1");
    const s = audit.wrapStore(store);
    await s.set({ org: ORG, app: APP, values: { A: "1" } });
    const before = state(store);
    fail.when = (e) => e.kind === "intent";
    for (const op of [
      () => s.set({ org: ORG, app: APP, values: { A: "2", B: "3" } }),
      () => s.unset({ org: ORG, app: APP, names: ["A"] }),
      () => s.rollback({ org: ORG, app: APP, name: "A", toVersion: 1 }),
      () => s.resolve({ org: ORG, app: APP, minVersion: 0 }),
    ]) {
      expect(await refusal(op())).toBe("audit_unavailable");
      expect(state(store)).toBe(before);
    }
    fail.when = null;
    expect((await s.set({ org: ORG, app: APP, values: { A: "2" } })).app_version).toBe(2);
  });

  it("P8: if resolve's outcome cannot be written, no value is returned and the error holds none", async () => {
    const { store } = freshStore("native");
    const fail: { when: ((e: AuditEventInput) => boolean) | null } = { when: null };
    const log = await openLog(tempDir());
    const s = PetsemAudit.over(failing(log, fail), "n1").wrapStore(store);
    await s.set({ org: ORG, app: APP, values: { A: "marker-value-8" } });
    fail.when = (e) => e.op === "resolve" && e.kind === "outcome";
    let err: unknown;
    const result = await s.resolve({ org: ORG, app: APP, minVersion: 1 }).catch((e: unknown) => {
      err = e;
      return undefined;
    });
    expect(result).toBeUndefined();
    expect(isPetsemError(err, "audit_unavailable")).toBe(true);
    expect(JSON.stringify(err)).not.toContain("marker-value-8");
    expect(String((err as Error).cause)).not.toContain("marker-value-8");
    // the attempt is on record as an intent without outcome: a restart records it as unknown
    await log.flush();
    const resolves = auditLines(log.dir).filter((l) => l.op === "resolve");
    expect(resolves.map((l) => l.kind)).toEqual(["intent"]);
  });

  it("a write whose outcome was lost (crash after commit) is reconciled as ok at the next open; one that never committed as aborted", async () => {
    const dir = tempDir();
    const { store } = freshStore("native");
    const fail: { when: ((e: AuditEventInput) => boolean) | null } = {
      when: (e) => e.kind === "outcome" && e.op === "set",
    };
    const log = await AuditLog.open(dir, { node: "n1", timers: false });
    const s = PetsemAudit.over(failing(log, fail), "n1").wrapStore(store);
    expect(await refusal(s.set({ org: ORG, app: APP, values: { A: "1" } }))).toBe("audit_unavailable");
    expect(store.appVersion(ORG, APP)).toBe(1); // committed: only its outcome is missing
    // an intent whose effect never ran (a crash before the transaction)
    await log.appendDurable({ kind: "intent", op: "rollback", actor: "system", org: "7", app: "42" });
    await log.close();

    const audit = await PetsemAudit.open({ dir, node: "n1", timers: false });
    try {
      expect(await audit.reconcile(store)).toBe(2);
      expect(audit.log.pendingIntents()).toEqual([]);
    } finally {
      await audit.close();
    }
    const outcomes = auditLines(dir).filter((l) => l.kind === "outcome");
    expect(outcomes.map((l) => [l.op, l.outcome, l.reconciled])).toEqual([
      ["set", "ok", true],
      ["rollback", "aborted", true],
    ]);
    expect(await verify(dir)).toMatchObject({ ok: true });
  });

  it("outcomes go out without waiting for their fdatasync; a crash right after the reply leaves the intent, reconciled as ok (committed set) or outcome_unknown (resolve)", async () => {
    const dir = tempDir();
    const { store } = freshStore("native");
    // the short flush timer never fires here: the state on disk is a crash's right after the reply
    const log = await AuditLog.open(dir, { node: "n1", timers: false, soonFlushMs: 3_600_000 });
    onTestFinished(() => log.close().catch(() => undefined));
    const s = PetsemAudit.over(log, "n1").wrapStore(store);
    const crashCopy = () => {
      const copy = tempDir();
      cpSync(dir, copy, { recursive: true });
      rmSync(join(copy, "writer.lock"), { force: true });
      return copy;
    };
    const syncs = log.syncs;
    await s.set({ org: ORG, app: APP, values: { A: "1" } });
    expect(log.syncs - syncs).toBe(1); // the intent's fdatasync only
    const afterSet = crashCopy();
    expect(await s.resolve({ org: ORG, app: APP, minVersion: 1 })).toBeDefined();
    const afterResolve = crashCopy();
    const reconciled = async (copy: string) => {
      expect(
        auditLines(copy)
          .filter((l) => l.kind === "outcome")
          .at(-1)?.op,
      ).not.toBe("resolve");
      const audit = await PetsemAudit.open({ dir: copy, node: "n1", timers: false });
      try {
        expect(await audit.reconcile(store)).toBe(1);
      } finally {
        await audit.close();
      }
      expect(await verify(copy)).toMatchObject({ ok: true });
      return auditLines(copy)
        .filter((l) => l.reconciled)
        .map((l) => [l.op, l.outcome, l.code]);
    };
    expect(await reconciled(afterSet)).toEqual([["set", "ok", undefined]]);
    expect(await reconciled(afterResolve)).toEqual([["resolve", "error", "outcome_unknown"]]);
  });

  it("every mutation and resolve has a durable intent and outcome, refusals with their code; the chain verifies and holds no value", async () => {
    const dir = tempDir();
    const { store } = freshStore("native");
    const audit = await PetsemAudit.open({ dir, node: "n1", timers: false });
    const s = audit.wrapStore(store);
    await s.set({ org: ORG, app: APP, values: { A: "value-one-9f3a" } });
    await s.resolve({ org: ORG, app: APP, minVersion: 1 });
    expect(await refusal(s.set({ org: ORG, app: APP, values: { A: "x-77" }, expectedAppVersion: 9 }))).toBe(
      "cas_mismatch",
    );
    await s.rollback({ org: ORG, app: APP, name: "A", toVersion: 1 });
    await audit.close();
    const lines = auditLines(dir).filter((l) => l.kind === "intent" || l.kind === "outcome");
    expect(lines.map((l) => `${l.op}:${l.kind}:${l.outcome ?? ""}:${l.code ?? ""}`)).toEqual([
      "set:intent::",
      "set:outcome:ok:",
      "resolve:intent::",
      "resolve:outcome:ok:",
      "set:intent::",
      "set:outcome:refused:cas_mismatch",
      "rollback:intent::",
      "rollback:outcome:ok:",
    ]);
    expect(lines[0]).toMatchObject({ org: "7", app: "42", names: ["A"] });
    expect(lines[1]).toMatchObject({ version: 1, intent_seq: lines[0]?.seq });
    const files = readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8"));
    for (const text of files) {
      expect(text).not.toContain("value-one-9f3a");
      expect(text).not.toContain("x-77");
    }
    expect(await verify(dir)).toMatchObject({ ok: true });
  });

  it("a client over its idempotency bound is refused with unavailable before any effect; nothing is evicted", async () => {
    const { store } = freshStore("native", { idempotency: { maxPerClient: 2 } });
    const ctx = (rid: string) => ({ idempotency: { clientKey: "api", rid } });
    const first = store.set({ org: ORG, app: APP, values: { A: "1" } }, ctx("r1"));
    store.set({ org: ORG, app: APP, values: { B: "1" } }, ctx("r2"));
    let code = "";
    try {
      store.set({ org: ORG, app: APP, values: { C: "1" } }, ctx("r3"));
    } catch (e) {
      code = isPetsemError(e) ? e.code : String(e);
    }
    expect(code).toBe("unavailable");
    expect(store.appVersion(ORG, APP)).toBe(2);
    // the first request's retry still gets its stored result, and another client is not affected
    expect(store.set({ org: ORG, app: APP, values: { A: "1" } }, ctx("r1"))).toEqual(first);
    expect(
      store.set({ org: ORG, app: APP, values: { C: "1" } }, { idempotency: { clientKey: "b", rid: "r3" } }),
    ).toMatchObject({ app_version: 3 });
  });
});
