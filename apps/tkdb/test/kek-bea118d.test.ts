/**
 * Databases made at bea118d still open with today's code: test/fixtures/bea118d/tkdb.db was made
 * by bea118d's own CLI (README there: org create 7 and 9, a token minted for each, org 9's
 * revoked) under the test KEK 11…11. Its root keys and check value are in tkdb's bea118d format;
 * the keyring's legacy openers read them, and `kek rotate` rewraps them into the shared format.
 */
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openDb } from "../src/db/open.js";
import { rotateKek } from "../src/kek-rotation.js";
import { tempDir } from "./helpers.js";
import { createKeyring, newKek, serviceConfig, withService } from "./kek-helpers.js";

const FIXTURE = new URL("./fixtures/bea118d/", import.meta.url);
const contents = JSON.parse(readFileSync(new URL("contents.json", FIXTURE), "utf8")) as {
  kek_hex: string;
  live_token: { org: string; token: string; nonce: string };
  revoked_token: { org: string; token: string; nonce: string };
};
const KEK = new Uint8Array(Buffer.from(contents.kek_hex, "hex"));
const t = tempDir();
afterAll(() => t.cleanup());
let n = 0;

/** A private copy of the fixture (the committed file is never opened read-write). */
function copy(): string {
  const path = join(t.dir, `bea118d-${n++}.db`);
  copyFileSync(new URL("tkdb.db", FIXTURE), path);
  return path;
}

function caught(fn: () => unknown): { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string };
  }
  throw new Error("expected an error");
}

describe("a tkdb database made at bea118d", () => {
  it("opens with today's code and its KEK: its token verifies, its revoked token is refused, and a wrong KEK is refused", () => {
    const path = copy();
    expect(caught(() => withService(serviceConfig(path, newKek()), () => 0)).code).toBe("wrong_kek");
    withService(serviceConfig(path, KEK), (svc) => {
      const live = svc.verify({ header: `FlyV1 ${contents.live_token.token}` });
      expect(live).toMatchObject({ org: "7", nonce: contents.live_token.nonce });
      expect(caught(() => svc.verify({ header: `FlyV1 ${contents.revoked_token.token}` })).code).toBe(
        "revoked",
      );
      const k9 = svc.keyForOrg("9");
      expect(k9.key.length).toBe(32);
      // a new org on the old database: sealed in the shared format under the same KEK
      svc.store.transaction(() => svc.orgCreate({ org: "11" }));
    });
  });

  it("kek rotate rewraps its bea118d root keys and check value into the shared format: it then opens with the new KEK alone", () => {
    const path = copy();
    const next = newKek();
    const opened = openDb(path);
    const r = rotateKek(opened.sqlite, createKeyring({ kek: KEK, kekNext: next }));
    opened.close();
    expect(r.counts.legacy).toBe(2);
    expect(r.counts.rewrapped).toBe(2);
    const db = new Database(path, { readonly: true });
    const first = db.prepare("SELECT sealed_key FROM root_keys").all() as { sealed_key: Buffer }[];
    db.close();
    for (const row of first) expect(row.sealed_key[0]).toBe(0x02);
    expect(caught(() => withService(serviceConfig(path, KEK), () => 0)).code).toBe("wrong_kek");
    withService(serviceConfig(path, next), (svc) => {
      expect(svc.verify({ header: `FlyV1 ${contents.live_token.token}` }).org).toBe("7");
      expect(caught(() => svc.verify({ header: `FlyV1 ${contents.revoked_token.token}` })).code).toBe(
        "revoked",
      );
    });
  });
});
