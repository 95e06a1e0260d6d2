/**
 * Issue 17: a fail-closed op's outcome is written without waiting for its fdatasync. A process
 * killed (SIGKILL) right after the reply leaves only the durable intent; the restart's reconcile
 * closes it with what it can derive: a committed mutation `ok` (its audit_intents row), a
 * discharge `error`/`outcome_unknown` (it may have been answered); the chain verifies.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type AuditLine, verify } from "@tkdb/audit";
import { afterAll, describe, expect, it } from "vitest";
import { nonceField, openAudit } from "../src/audit.js";
import { native } from "../src/crypto.js";
import { DrizzleStore } from "../src/store.js";
import { tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());

function lines(auditDir: string): AuditLine[] {
  return readdirSync(auditDir)
    .filter((f) => /^audit-\d{12}\.jsonl$/.test(f))
    .sort()
    .flatMap((f) => readFileSync(join(auditDir, f), "utf8").split("\n").filter(Boolean))
    .map((l) => JSON.parse(l) as AuditLine);
}

/** Runs one op in a child process and SIGKILLs it as soon as it has replied. */
async function runAndKill(dbPath: string, auditDir: string, op: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "outcome-crash-child.ts"), dbPath, auditDir, op],
    { cwd: join(import.meta.dirname, ".."), stdio: ["ignore", "pipe", "pipe"] },
  );
  let err = "";
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("replied")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`child exited ${code} before replying: ${err}`)));
  });
  child.kill("SIGKILL");
  await exited;
}

describe("a process killed right after a reply", () => {
  it("leaves intents whose outcomes the restart reconciles: committed mutation ok, discharge outcome_unknown; the chain verifies", async () => {
    const dir = join(t.dir, "crash");
    mkdirSync(dir);
    const dbPath = join(dir, "tkdb.db");
    const auditDir = join(dir, "audit");
    new DrizzleStore(dbPath, native).close(); // migrated before the children open it

    await runAndKill(dbPath, auditDir, "revoke");
    await runAndKill(dbPath, auditDir, "discharge");
    // The replies went out; the outcomes never reached the disk.
    const before = lines(auditDir);
    expect(before.filter((l) => l.kind === "intent").map((l) => l.op)).toEqual(["revoke", "discharge"]);
    expect(before.filter((l) => l.kind === "outcome")).toEqual([]);

    const store = new DrizzleStore(dbPath, native);
    expect(store.anyRevoked([new Uint8Array([1, 2, 3])])).toBe(true); // the mutation committed
    const audit = await openAudit(auditDir, "node1", store, { timers: false });
    expect(audit.log.pendingIntents()).toEqual([]);
    await audit.close();
    store.close();

    const after = lines(auditDir);
    const intents = after.filter((l) => l.kind === "intent");
    const outcomes = after.filter((l) => l.kind === "outcome");
    expect(outcomes.map((o) => [o.intent_seq, o.op, o.outcome, o.code, o.reconciled])).toEqual([
      [intents[0]?.seq, "revoke", "ok", undefined, true],
      [intents[1]?.seq, "discharge", "error", "outcome_unknown", true],
    ]);
    expect(outcomes[1]).toMatchObject({ org: "1", app: "2" });
    expect(await verify(auditDir)).toMatchObject({ ok: true });
  }, 120_000);

  it("a revocation naming its nonces has its outcome, with the nonces, on disk before the reply (a restore re-applies from it)", async () => {
    const dir = join(t.dir, "crash-revoke-nonces");
    mkdirSync(dir);
    const dbPath = join(dir, "tkdb.db");
    const auditDir = join(dir, "audit");
    new DrizzleStore(dbPath, native).close();

    await runAndKill(dbPath, auditDir, "revoke-nonces");
    const got = lines(auditDir);
    const intent = got.find((l) => l.kind === "intent");
    const outcome = got.find((l) => l.kind === "outcome");
    expect(intent?.op).toBe("revoke");
    expect(outcome).toMatchObject({
      op: "revoke",
      outcome: "ok",
      intent_seq: intent?.seq,
      nonces: [nonceField("ksQBBMQBBQ==")],
    });
    expect(outcome?.reconciled).toBeUndefined();
    expect(await verify(auditDir)).toMatchObject({ ok: true });
  }, 120_000);
});
