/**
 * Local admin commands never create a database they were not asked to create. At bea118d
 * `petsem token mint` on a PETSEM_DATA_DIR without a database (a typo, a missing volume) created
 * one, with a fresh macaroon root key under the production KEK, and printed a token that no
 * running petsem honours: a second, silent authority. Now every local command (token mint,
 * token revoke, audit verify, audit export) refuses, naming the path, and leaves nothing behind;
 * only an explicit `--init` creates a database.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PetsemClient } from "@tkdb/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, hex, key32, type RunningService, startService, tempDir, x25519 } from "../harness.js";

const dir = tempDir("e2e-nodb");
let petsem: RunningService;
let env: Record<string, string>;

beforeAll(async () => {
  env = {
    PETSEM_PORT: "0",
    PETSEM_DATA_DIR: join(dir.path, "petsem"),
    PETSEM_KEK: hex(key32()),
    PETSEM_NOISE_KEY: hex(x25519().secretKey),
  };
  petsem = await startService("petsem", env, 60_000);
}, 90_000);

afterAll(async () => {
  await petsem?.stop();
  dir.remove();
});

describe("petsem admin commands never create a database", () => {
  it("on a data folder without a database, token mint/revoke and audit refuse naming the path and create nothing; --init creates it", async () => {
    const typo = join(dir.path, "petsme");
    const wrong = { ...env, PETSEM_DATA_DIR: typo };
    for (const args of [
      ["token", "mint", "--writer"],
      ["token", "revoke", "--nonce", "AAAA"],
      ["audit", "verify"],
      ["audit", "export"],
    ]) {
      const r = await cli("petsem", args, wrong);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stdout, args.join(" ")).not.toMatch(/fm2_/);
      // the path is named (the log scrubber may mask a long random temp path, never the file name);
      // the audit commands read the audit log folder (PETSEM_AUDIT_DIR, default <data dir>/audit)
      expect(r.stderr, args.join(" ")).toMatch(
        args[0] === "audit" ? /no audit log at \S*audit/ : /no petsem database at \S*petsem\.db/,
      );
      expect(existsSync(typo) ? readdirSync(typo) : [], args.join(" ")).toEqual([]);
    }
    const created = await cli("petsem", ["token", "mint", "--writer", "--init"], wrong);
    expect(created.code).toBe(0);
    expect(existsSync(join(typo, "petsem.db"))).toBe(true);
  }, 120_000);

  it("the serving database still mints tokens the server accepts", async () => {
    const minted = await cli("petsem", ["token", "mint", "--writer"], env);
    expect(minted.code).toBe(0);
    const client = new PetsemClient({ endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }] });
    const listed = await client.list(minted.stdout.trim(), 7n, 1n);
    expect(listed.app_version).toBe(0);
  });
});
