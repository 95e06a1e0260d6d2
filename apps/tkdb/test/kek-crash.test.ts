/**
 * A kill -9 in the middle of `tkdb kek rotate` (a child process frozen after writing some rows
 * inside the rotation's transaction, then killed with SIGKILL) leaves a database that opens with
 * the old KEK or the new one, never neither: every token still verifies with exactly one of them.
 */
import { spawn } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.js";
import { hex, newKek, populate, serviceConfig, verifyAll } from "./kek-helpers.js";

const APP = fileURLToPath(new URL("..", import.meta.url));
const WORKER = fileURLToPath(new URL("./fixtures/kek-rotate-worker.ts", import.meta.url));
const t = tempDir();
afterAll(() => t.cleanup());

/** Runs the worker until it prints FROZEN (or DONE), then kills it with SIGKILL. */
function rotateAndKill(args: {
  db: string;
  kek: string;
  next: string;
  stopAt: number | "commit";
}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WORKER, JSON.stringify(args)], {
      cwd: APP,
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
      if (signal === "SIGKILL" && out.includes("FROZEN")) resolve(out);
      else reject(new Error(`worker ended ${code ?? signal} before freezing: ${out} ${err}`));
    });
  });
}

/** Which of the two KEKs opens the database (all tokens verify), "neither" when none does. */
function opensWith(db: string, a: Uint8Array, b: Uint8Array, tokens: Map<string, string>): string[] {
  const ok: string[] = [];
  for (const [name, kek] of [
    ["old", a],
    ["new", b],
  ] as const) {
    try {
      if (verifyAll(serviceConfig(db, kek), tokens) === tokens.size) ok.push(name);
    } catch (e) {
      if ((e as { code?: string }).code !== "wrong_kek") throw e;
    }
  }
  return ok;
}

describe("tkdb kek rotate under kill -9", () => {
  const [a, b] = [newKek(), newKek()];
  const base = join(t.dir, "base.db");
  let tokens: Map<string, string>;

  it("killed mid-transaction, at the first, a middle or the last row, or just after commit, the database opens with exactly one of the old and the new KEK", {
    timeout: 240_000,
  }, async () => {
    tokens = populate(serviceConfig(base, a), 300);
    const cases: [number | "commit", string][] = [
      [1, "old"],
      [150, "old"],
      [300, "old"],
      ["commit", "new"],
    ];
    for (const [stopAt, expected] of cases) {
      const db = join(t.dir, `kill-${stopAt}.db`);
      copyFileSync(base, db);
      await rotateAndKill({ db, kek: hex(a), next: hex(b), stopAt });
      expect(opensWith(db, a, b, tokens), `killed at ${stopAt}`).toEqual([expected]);
    }
  });
});
