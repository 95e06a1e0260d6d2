/**
 * Databases made at bea118d still open with today's code: test/fixtures/bea118d/petsem.db was
 * made by bea118d's own code (README there: a writer and a reader token minted by its CLI, two
 * apps' secrets written through its store) under the test KEK 22…22. Its wrapped keys are in
 * petsem's bea118d AES-256-GCM format and its values under per-app DEKs; the keyring's legacy
 * openers read them, and `petsem kek rotate` rewraps the keys into the shared format.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { runPetsemCli } from "../src/cli/index.js";
import { openPetsem } from "../src/server.js";
import { SecretStore } from "../src/store.js";
import { codeOf, hex, newKek } from "./kek-helpers.js";

const FIXTURE = new URL("./fixtures/bea118d/", import.meta.url);
const contents = JSON.parse(readFileSync(new URL("contents.json", FIXTURE), "utf8")) as {
  kek_hex: string;
  tkdb_shared_key_hex: string;
  writer_token_org7_app70: string;
};
const KEK = new Uint8Array(Buffer.from(contents.kek_hex, "hex"));
const dir = mkdtempSync(join(tmpdir(), "petsem-bea118d-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A private copy of the fixture in its own data folder (the committed file is never opened). */
function copy(): { dataDir: string; file: string } {
  const dataDir = join(dir, `d${n++}`);
  const file = join(dataDir, "petsem.db");
  mkdirSync(dataDir, { recursive: true });
  copyFileSync(new URL("petsem.db", FIXTURE), file);
  return { dataDir, file };
}

/** What the fixture holds, read with `kek`: app 7/70's values, 7/71's (unset) and the writer's verdict. */
function readBack(file: string, kek: Uint8Array) {
  const o = openPetsem({ file, kek });
  try {
    const a70 = o.store.resolve({ org: 7n, app: 70n, minVersion: 2 });
    const a71 = o.store.resolve({ org: 7n, app: 71n, minVersion: 2 });
    const writer = o.authority.authorize(`FlyV1 ${contents.writer_token_org7_app70}`, ["list"], 7n, 70n);
    const other = codeOf(() =>
      o.authority.authorize(`FlyV1 ${contents.writer_token_org7_app70}`, ["list"], 7n, 71n),
    );
    return {
      a70: a70.secrets.map((s) => [s.name, s.version, s.value]),
      a71: a71.secrets.length,
      writer: writer.actor.startsWith("token:"),
      other,
    };
  } finally {
    o.close();
  }
}

const EXPECTED = {
  a70: [
    ["API_TOKEN", 2, "fixture-token-2"],
    ["DATABASE_URL", 1, "postgres://fixture-db"],
  ],
  a71: 0,
  writer: true,
  other: "forbidden",
};

describe("a petsem database made at bea118d", () => {
  it("opens with today's code and its KEK: its secrets resolve, its writer token authorizes, and a wrong KEK is refused", () => {
    const { file } = copy();
    expect(codeOf(() => SecretStore.open({ file, kek: newKek() }))).toBe("wrong_kek");
    expect(readBack(file, KEK)).toEqual(EXPECTED);
  });

  it("kek rotate rewraps its bea118d keys into the shared format: it then opens with the new KEK alone, contents unchanged", async () => {
    const { dataDir, file } = copy();
    const next = newKek();
    let stdout = "";
    const code = await runPetsemCli({
      argv: ["kek", "rotate", "--json"],
      env: { PETSEM_DATA_DIR: dataDir, PETSEM_KEK: hex(KEK), PETSEM_KEK_NEXT: hex(next) },
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: () => {} },
      cwd: dir,
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout).counts).toMatchObject({ legacy: 4, rewrapped: 4 }); // server key, root key, 2 DEKs
    const db = new Database(file, { readonly: true });
    const wrapped = db
      .prepare("SELECT wrapped_dek AS w FROM apps UNION ALL SELECT value FROM meta")
      .all() as {
      w: Buffer;
    }[];
    db.close();
    for (const r of wrapped) expect(r.w[0]).toBe(0x02);
    expect(codeOf(() => SecretStore.open({ file, kek: KEK }))).toBe("wrong_kek");
    expect(readBack(file, next)).toEqual(EXPECTED);
  });
});
