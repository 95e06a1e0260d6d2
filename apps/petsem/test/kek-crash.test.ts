/**
 * A kill -9 in the middle of `petsem kek rotate` (a child process frozen after rewrapping some
 * keys inside the rotation's transaction, then killed with SIGKILL) leaves a database that opens
 * with the old KEK or the new one, never neither: every app's secrets read back with exactly one.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { rotateAndKill, whichOpen } from "../../../packages/service/test/kek-crash-harness.js";
import { isPetsemError } from "../src/errors.js";
import { hex, newKek, populate, resolveAll } from "./kek-helpers.js";

const APP_DIR = fileURLToPath(new URL("..", import.meta.url));
const WORKER = fileURLToPath(new URL("./fixtures/kek-rotate-worker.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "petsem-kek-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("petsem kek rotate under kill -9", () => {
  it("killed mid-transaction, at the first, a middle or the last key, or just after commit, the database opens with exactly one of the old and the new KEK", {
    timeout: 240_000,
  }, async () => {
    const [a, b] = [newKek(), newKek()];
    const base = join(dir, "base.db");
    const values = populate(base, a, 200);
    const cases: [number | "commit", string][] = [
      [1, "old"],
      [100, "old"],
      [201, "old"], // 200 DEKs and the server key
      ["commit", "new"],
    ];
    for (const [stopAt, expected] of cases) {
      const file = join(dir, `kill-${stopAt}.db`);
      copyFileSync(base, file);
      await rotateAndKill(WORKER, APP_DIR, { file, kek: hex(a), next: hex(b), stopAt });
      const opens = whichOpen(
        a,
        b,
        (kek) => resolveAll(file, { kek }, values) === values.size,
        (e) => isPetsemError(e, "wrong_kek"),
      );
      expect(opens, `killed at ${stopAt}`).toEqual([expected]);
    }
  });
});
