/**
 * kill -9 of a process in the middle of durable appends: every acknowledged line is on disk after
 * restart, the chain verifies once open has cut any torn tail, and the in-flight intent is found
 * for reconciliation. The child is a real process (tsx), killed with SIGKILL.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type AuditLine, AuditLog, verify } from "../src/index.js";
import { tempDir } from "./fixtures/helpers.js";

const CHILD = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url));

async function runUntilAcks(dir: string, acks: number): Promise<Map<number, string>> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const acked = new Map<number, string>();
  let buf = "";
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.on("exit", (code, signal) =>
      signal === "SIGKILL" ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`)),
    );
    child.stdout.on("data", (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) {
        const [, seq, hash] = l.split(" ");
        acked.set(Number(seq), hash as string);
      }
      if (acked.size >= acks && !child.killed) child.kill("SIGKILL");
    });
  });
  return acked;
}

function linesOf(dir: string): Map<number, AuditLine> {
  const out = new Map<number, AuditLine>();
  for (const f of readdirSync(dir)
    .filter((x) => x.startsWith("audit-"))
    .sort()) {
    for (const t of readFileSync(join(dir, f), "utf8").split("\n")) {
      if (t === "") continue;
      const l = JSON.parse(t) as AuditLine;
      out.set(l.seq, l);
    }
  }
  return out;
}

describe("crash safety (kill -9)", () => {
  it("loses no acknowledged line across three kill -9 rounds, and the chain verifies after each restart", async () => {
    const { dir, cleanup } = tempDir("crash");
    try {
      for (let round = 0; round < 3; round++) {
        const acked = await runUntilAcks(dir, 150);
        const log = await AuditLog.open(dir, { node: "crash-1", timers: false });
        const onDisk = linesOf(dir);
        for (const [seq, hash] of acked) expect(onDisk.get(seq)?.hash, `seq ${seq}`).toBe(hash);
        await log.reconcile(() => "aborted");
        expect(log.pendingIntents()).toEqual([]);
        await log.close();
        expect(await verify(dir)).toMatchObject({ ok: true });
      }
    } finally {
      cleanup();
    }
  }, 120_000);
});
