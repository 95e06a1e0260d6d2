/**
 * Unit-level checks of issue 12's tkdb fixes: the migration from a bea118d database (cleartext
 * replay rows gone from the tables and the files), sealed idempotency records and their keyed
 * fingerprints, the KEK subkeys on both backends, the signing-client and TTL configuration, the
 * tokens record and required_until, and pruning revocations past required_until.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { afterAll, describe, expect, it } from "vitest";
import {
  backends,
  canonicalJSON,
  createKeyring,
  type IdempotencyKeys,
  native,
  noble,
  openResult,
  requestFingerprint,
  sealResult,
} from "../src/crypto.js";
import { loadConfig, parseSignClients } from "../src/env.js";
import { startTkdb } from "../src/server.js";
import { DrizzleStore } from "../src/store.js";
import { fixture, randomNonceId, tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());
const MIGRATIONS = join(import.meta.dirname, "..", "drizzle");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("migration from a bea118d database", () => {
  it("opening a database made at bea118d drops its cleartext replay rows from the tables, the file and the WAL", () => {
    // The bea118d schema: only migration 0000, as that commit shipped it.
    const old = join(t.dir, "old-migrations");
    mkdirSync(join(old, "meta"), { recursive: true });
    copyFileSync(join(MIGRATIONS, "0000_init.sql"), join(old, "0000_init.sql"));
    copyFileSync(join(MIGRATIONS, "meta", "0000_snapshot.json"), join(old, "meta", "0000_snapshot.json"));
    const journal = JSON.parse(readFileSync(join(MIGRATIONS, "meta", "_journal.json"), "utf8"));
    journal.entries = journal.entries.slice(0, 1);
    writeFileSync(join(old, "meta", "_journal.json"), JSON.stringify(journal));
    const dir = join(t.dir, "bea118d");
    mkdirSync(dir);
    const path = join(dir, "tkdb.db");
    const sqlite = new Database(path);
    sqlite.pragma("journal_mode = WAL");
    migrate(drizzle(sqlite), { migrationsFolder: old });
    const marker = `fm2_${"Q".repeat(40)}${hex(native.random(24))}`;
    const ins = sqlite.prepare(
      "INSERT INTO replay (client_key, rid, op, result, expires) VALUES (?, ?, 'mint', ?, ?)",
    );
    for (let i = 0; i < 50; i++)
      ins.run("ck", `rid${i}`, JSON.stringify({ token: `${marker}${i}` }), Date.now() + 1e6);
    sqlite.close();
    expect(readdirSync(dir).some((f) => readFileSync(join(dir, f)).includes(marker))).toBe(true);

    const store = new DrizzleStore(path, native);
    store.close();
    const db = new Database(path, { readonly: true });
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
    ).map((r) => r.name);
    db.close();
    expect(tables).not.toContain("replay");
    expect(tables).toEqual(
      expect.arrayContaining([
        "idempotency_records",
        "audit_intents",
        "tokens",
        "blacklist",
        "root_keys",
        "audit",
      ]),
    );
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f)).includes(marker)).toBe(false);
  });
});

/** The idempotency sealing of a database under `kek` (keyring format, sealing under `kek`). */
function idempotencyKeys(kek: Uint8Array): IdempotencyKeys {
  const ring = createKeyring({ kek });
  return { ring, sealingKid: () => ring.current };
}

describe("idempotency records", () => {
  const keys = idempotencyKeys(native.random(32));

  it("HKDF and HMAC agree on both backends (RFC 5869 case 3) and the two subkeys differ", () => {
    const ikm = new Uint8Array(22).fill(0x0b);
    const okm = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8";
    for (const p of backends) expect(hex(p.hkdfSha256(ikm, new Uint8Array(0), 42))).toBe(okm);
    const k = native.random(32);
    const d = native.random(100);
    expect(hex(noble.hmacSha256(k, d))).toBe(hex(native.hmacSha256(k, d)));
    const kek = native.random(32);
    const [a, b] = [idempotencyKeys(kek), idempotencyKeys(kek)];
    const sealed = sealResult(native, a, "ck", "r1", "mint", "{}");
    expect(openResult(noble, b, "ck", "r1", "mint", sealed)).toBe("{}");
  });

  it("a sealed result opens only for the same client key, rid and op", () => {
    const sealed = sealResult(native, keys, "ck", "r1", "mint", '{"token":"x"}');
    expect(openResult(native, keys, "ck", "r1", "mint", sealed)).toBe('{"token":"x"}');
    expect(() => openResult(native, keys, "ck", "r2", "mint", sealed)).toThrow(/does not open/);
    expect(() => openResult(native, keys, "ck2", "r1", "mint", sealed)).toThrow(/does not open/);
    expect(() => openResult(native, keys, "ck", "r1", "strip", sealed)).toThrow(/does not open/);
    expect(Buffer.from(sealed).includes(Buffer.from('"token"'))).toBe(false);
  });

  it("the fingerprint is keyed and canonical: key order does not matter, values and keys do", () => {
    const fp = (k: typeof keys, args: unknown) =>
      hex(requestFingerprint(native, k, "ck", "r", "revoke", args));
    expect(fp(keys, { a: 1, b: [1, { y: 2, x: 1 }] })).toBe(fp(keys, { b: [1, { x: 1, y: 2 }], a: 1 }));
    expect(fp(keys, { nonce: "A" })).not.toBe(fp(keys, { nonce: "B" }));
    expect(fp(keys, { nonce: "A" })).not.toBe(fp(idempotencyKeys(native.random(32)), { nonce: "A" }));
    expect(canonicalJSON({ b: 1, a: [true, null, "x"] })).toBe('{"a":[true,null,"x"],"b":1}');
  });

  it("arguments nested 10 000 levels deep are a typed invalid_request, never a stack overflow", () => {
    let deep: unknown = "x";
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    let caught: unknown;
    try {
      requestFingerprint(native, keys, "ck", "r", "org_create", { header: deep });
    } catch (e) {
      caught = e;
    }
    expect((caught as { code?: string }).code).toBe("invalid_request");
    expect(caught).not.toBeInstanceOf(RangeError);
  });
});

describe("configuration", () => {
  const base = { TKDB_KEK: "11".repeat(32), TKDB_NOISE_KEY: "22".repeat(32) };
  const key = "33".repeat(32);

  it("TKDB_SIGN_CLIENTS takes key:op+op entries; a bare key is the old every-op form; unknown or empty ops are refused", () => {
    expect(parseSignClients(`${key}:mint+revoke`)).toEqual([
      { publicKey: new Uint8Array(32).fill(0x33), ops: ["mint", "revoke"] },
    ]);
    expect(parseSignClients(key)).toEqual([{ publicKey: new Uint8Array(32).fill(0x33) }]);
    expect(() => parseSignClients(`${key}:mint+delete_everything`)).toThrow(/item 0/);
    expect(() => parseSignClients(`${key}:`)).toThrow(/item 0/);
    expect(() => parseSignClients(`${key}:mint,${key}:strip`)).toThrow(/listed twice/);
    expect(() => loadConfig({ ...base, TKDB_SIGN_CLIENTS: `${key}:mint+delete_everything` })).toThrow(
      /TKDB_SIGN_CLIENTS: item 0/,
    );
    expect(loadConfig({ ...base, TKDB_SIGN_CLIENTS: `${key}:strip` }).signClients).toHaveLength(1);
  });

  it("the discharge TTL is 1..300 whole seconds (default 60, any duration syntax): other values are refused by config and by startTkdb", async () => {
    expect(loadConfig(base).dischargeTtl).toBe(60);
    expect(loadConfig({ ...base, TKDB_DISCHARGE_TTL: "300" }).dischargeTtl).toBe(300);
    expect(loadConfig({ ...base, TKDB_DISCHARGE_TTL: "90s" }).dischargeTtl).toBe(90);
    expect(loadConfig({ ...base, TKDB_DISCHARGE_TTL: "5m" }).dischargeTtl).toBe(300);
    for (const bad of ["301", "86400", "0", "1.5", "-1", "1500ms", "6m"])
      expect(() => loadConfig({ ...base, TKDB_DISCHARGE_TTL: bad })).toThrow(/TKDB_DISCHARGE_TTL/);
    const fx = fixture(join(t.dir, "ttl"));
    await expect(startTkdb({ ...fx.config, dischargeTtl: 301 })).rejects.toMatchObject({ code: "config" });
  });
});

describe("revocation records", () => {
  it("revocations past required_until (plus a day) are pruned at start; unknown expiries are kept", async () => {
    const fx = fixture(join(t.dir, "prune"));
    mkdirSync(join(t.dir, "prune"), { recursive: true });
    const store = new DrizzleStore(fx.config.dbPath, native);
    const nowS = Math.floor(Date.now() / 1000);
    const [old, recent, forever] = [randomNonceId(), randomNonceId(), randomNonceId()];
    const b = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
    store.revoke(b(old), nowS - 3 * 86400);
    store.revoke(b(recent), nowS - 3600);
    store.revoke(b(forever), null);
    store.close();
    const h = await startTkdb(fx.config);
    await h.close();
    const db = new Database(fx.config.dbPath, { readonly: true });
    const rows = (db.prepare("SELECT nonce FROM blacklist").all() as { nonce: Buffer }[]).map((r) =>
      r.nonce.toString("base64"),
    );
    db.close();
    expect(rows.sort()).toEqual([recent, forever].sort());
  });
});
