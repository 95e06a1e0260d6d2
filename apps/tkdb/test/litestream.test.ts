import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { restore, startReplication } from "../src/litestream.js";
import { startTkdb } from "../src/server.js";
import { caller, fixture, randomNonceId, tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Litestream point-in-time restore (file:// replica, real binary)", () => {
  it("restoring to a time between revocation A and B yields A but not B", async () => {
    const fx = fixture(t.dir);
    const cfg = join(t.dir, "litestream.yml");
    writeFileSync(
      cfg,
      `dbs:\n  - path: ${fx.config.dbPath}\n    replicas:\n      - url: file://${join(t.dir, "replica")}\n        sync-interval: 100ms\n`,
    );
    const h = await startTkdb(fx.config);
    const ls = startReplication(cfg, "ignore");
    let between = "";
    const [A, B] = [randomNonceId(), randomNonceId()];
    try {
      const c = caller(h.url, h.publicKey, fx.signClient);
      await c.sign("revoke", { nonce: A });
      await sleep(1500);
      between = new Date().toISOString();
      await sleep(1500);
      await c.sign("revoke", { nonce: B });
      await sleep(1500);
    } finally {
      const exited = new Promise((r) => ls.once("exit", r));
      ls.kill("SIGTERM");
      await exited;
      await h.close();
    }
    const restoreAt = async (ts: string | undefined, name: string) => {
      const outPath = join(t.dir, name);
      await restore({ configPath: cfg, dbPath: fx.config.dbPath, outPath, ...(ts ? { timestamp: ts } : {}) });
      const db = new Database(outPath, { readonly: true });
      const rows = db.prepare("SELECT nonce FROM blacklist ORDER BY rowid").all() as { nonce: Buffer }[];
      db.close();
      return rows.map((r) => r.nonce.toString("base64"));
    };
    expect(await restoreAt(undefined, "latest.db")).toEqual([A, B]);
    expect(await restoreAt(between, "between.db")).toEqual([A]);
  });
});
