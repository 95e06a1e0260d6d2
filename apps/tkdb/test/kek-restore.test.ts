/**
 * Restores accept retired KEKs kept for the backup window: a `litefs export` backup taken under
 * the old KEK, restored after the rotation and the promotion (TKDB_KEK = new, TKDB_KEK_RETIRED =
 * old), opens, and is moved onto the current KEK before it is put in place, so it takes writes.
 */
import { join } from "node:path";
import { runCli } from "@tkdb/service";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../src/cli/index.js";
import { openDb } from "../src/db/open.js";
import { rotateKek } from "../src/kek-rotation.js";
import { tempDir } from "./helpers.js";
import {
  createKeyring,
  hex,
  newKek,
  populate,
  serviceConfig,
  verifyAll,
  withService,
} from "./kek-helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());

async function run(argv: string[], env: Record<string, string>) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(cli, {
    argv,
    env,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd: t.dir,
  });
  return { code, stdout, stderr };
}

describe("tkdb backup restore after a KEK rotation", () => {
  const [a, b] = [newKek(), newKek()];
  const dataDir = join(t.dir, "data");
  const db = join(dataDir, "tkdb.db");
  const backup = join(t.dir, "export-under-old-kek.db");

  it("a backup sealed under the old KEK restores with the old KEK in TKDB_KEK_RETIRED, is moved onto TKDB_KEK, and is refused without it", async () => {
    const tokens = populate(serviceConfig(db, a), 3);
    const src = new Database(db, { readonly: true });
    src.prepare("VACUUM INTO ?").run(backup);
    src.close();
    const opened = openDb(db);
    rotateKek(opened.sqlite, createKeyring({ kek: a, kekNext: b }));
    opened.close();

    const promoted = { TKDB_DATA_DIR: dataDir, TKDB_KEK: hex(b) };
    const refused = await run(
      ["backup", "restore", "--export", backup, "--output", join(t.dir, "no.db")],
      promoted,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/wrong_kek/);

    const out = join(t.dir, "restored.db");
    const ok = await run(["backup", "restore", "--export", backup, "--output", out], {
      ...promoted,
      TKDB_KEK_RETIRED: hex(a),
    });
    expect(ok.code, ok.stderr).toBe(0);
    // moved onto the current KEK: opens with it alone, and takes writes
    expect(verifyAll(serviceConfig(out, b), tokens)).toBe(3);
    withService(serviceConfig(out, b), (svc) => {
      expect(svc.store.transaction(() => svc.orgCreate({ org: "77" }))[0].created).toBe(true);
    });
  });
});
