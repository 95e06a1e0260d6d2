/**
 * Restores accept retired KEKs kept for the backup window: a Litestream backup (real binary,
 * file:// replica) made under the old KEK, restored after the rotation and the promotion
 * (PETSEM_KEK = new, PETSEM_KEK_RETIRED = old), opens, and is moved onto the current KEK before
 * it is put in place, so it opens with the new KEK alone and takes writes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { isPetsemError } from "../src/errors.js";
import { restoreBackup, startReplication } from "../src/litestream.js";
import { createKeyring } from "../src/store/kek.js";
import { rotateKek } from "../src/store/kek-rotation.js";
import { SecretStore } from "../src/store.js";
import { newKek, ORG, resolveAll } from "./kek-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "petsem-kek-restore-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("petsem backup restore after a KEK rotation", () => {
  it("a backup sealed under the old KEK restores with the old KEK in PETSEM_KEK_RETIRED, is moved onto PETSEM_KEK, and is refused without it", {
    timeout: 120_000,
  }, async () => {
    const [a, b] = [newKek(), newKek()];
    const file = join(dir, "petsem.db");
    const replica = { replica: pathToFileURL(join(dir, "replica")).href, syncInterval: "100ms" };
    const values = new Map([[1n, "backed-up-under-old-kek"]]);
    const store = SecretStore.open({ file, kek: a });
    const replication = await startReplication(file, replica);
    try {
      store.set({ org: ORG, app: 1n, values: { SECRET: "backed-up-under-old-kek" } });
    } finally {
      await replication.stop(); // final sync: the replica holds the write, under the old KEK
      store.close();
    }
    const live = new Database(file);
    rotateKek(live, createKeyring({ kek: a, kekNext: b }));
    live.close();

    const refused = join(dir, "refused.db");
    await expect(restoreBackup({ replica, dbPath: file, outputPath: refused, kek: b })).rejects.toSatisfy(
      (e) => isPetsemError(e, "wrong_kek"),
    );
    const out = join(dir, "restored.db");
    await restoreBackup({ replica, dbPath: file, outputPath: out, kek: b, kekRetired: [a] });
    expect(resolveAll(out, { kek: b }, values)).toBe(1);
    const restored = SecretStore.open({ file: out, kek: b });
    try {
      expect(restored.set({ org: ORG, app: 2n, values: { AFTER: "restore" } }).app_version).toBe(1);
    } finally {
      restored.close();
    }
  });
});
