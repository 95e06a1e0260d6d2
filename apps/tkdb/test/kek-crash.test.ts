/**
 * A kill -9 in the middle of `tkdb kek rotate` (a child process frozen after writing some rows
 * inside the rotation's transaction, then killed with SIGKILL) leaves a database that opens with
 * the old KEK or the new one, never neither: every token still verifies with exactly one of them.
 */
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { rotateAndKill, whichOpen } from "../../../packages/service/test/kek-crash-harness.js";
import { tempDir } from "./helpers.js";
import { hex, newKek, populate, serviceConfig, verifyAll } from "./kek-helpers.js";

const APP = fileURLToPath(new URL("..", import.meta.url));
const WORKER = fileURLToPath(new URL("./fixtures/kek-rotate-worker.ts", import.meta.url));
const t = tempDir();
afterAll(() => t.cleanup());

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
      await rotateAndKill(WORKER, APP, { db, kek: hex(a), next: hex(b), stopAt });
      const opens = whichOpen(
        a,
        b,
        (kek) => verifyAll(serviceConfig(db, kek), tokens) === tokens.size,
        (e) => (e as { code?: string }).code === "wrong_kek",
      );
      expect(opens, `killed at ${stopAt}`).toEqual([expected]);
    }
  });
});
