/**
 * Migration 0003 (security issue 12 item 1): a database written by bea118d holds value-keyed
 * digests (HMAC-SHA256 under a per-app digest key). Opening it with this code replaces every one of
 * them by a random per-version id, forgets replay records whose stored result carries one, drops
 * the digest key, and keeps every value resolvable.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { describe, expect, it, onTestFinished } from "vitest";
import { backends, PetsemCrypto, valueAad } from "../src/crypto.js";
import { MIGRATIONS_FOLDER } from "../src/db.js";
import { SecretStore } from "../src/store.js";
import { newKek } from "./helpers.js";

const ORG = "7";
const APP = "42";
const enc = new TextEncoder();

/** The migrations folder as it was at bea118d: 0000–0002 only. */
function oldMigrations(dir: string): string {
  const out = join(dir, "drizzle-bea118d");
  mkdirSync(join(out, "meta"), { recursive: true });
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta/_journal.json"), "utf8")) as {
    entries: { idx: number; tag: string }[];
  };
  journal.entries = journal.entries.filter((e) => e.idx <= 2);
  expect(journal.entries.map((e) => e.tag)).toEqual([
    "0000_init",
    "0001_audit_append_only",
    "0002_requests_created_at",
  ]);
  for (const e of journal.entries)
    copyFileSync(join(MIGRATIONS_FOLDER, `${e.tag}.sql`), join(out, `${e.tag}.sql`));
  writeFileSync(join(out, "meta/_journal.json"), JSON.stringify(journal));
  return out;
}

/** Writes, with bea118d's formats, app 7/42: A v1 "1234", A v2 unset, A v3 "1234", B v1 "1234". */
function writeOldDatabase(file: string, migrations: string, kek: Uint8Array): Buffer[] {
  const c = new PetsemCrypto(backends.native);
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  migrate(drizzle(sqlite), { migrationsFolder: migrations });
  const dek = c.newKey();
  const digestKey = c.newKey();
  // bea118d: digest = HMAC-SHA256(per-app digest key, value)[0:16], so equal values had equal digests
  const oldDigest = Buffer.from(backends.native.hmacSha256(digestKey, enc.encode("1234")).slice(0, 16));
  sqlite
    .prepare("INSERT INTO meta (key, value) VALUES ('server_key', ?)")
    .run(Buffer.from(c.wrapKey(kek, c.newKey(), { kind: "server-key" })));
  sqlite
    .prepare("INSERT INTO apps VALUES (?, ?, 3, 1, ?, ?, 0)")
    .run(
      ORG,
      APP,
      Buffer.from(c.wrapKey(kek, dek, { kind: "dek", org: ORG, app: APP, kid: 1 })),
      Buffer.from(c.wrapKey(kek, digestKey, { kind: "server-key" })),
    );
  const version = sqlite.prepare("INSERT INTO secret_versions VALUES (?, ?, ?, ?, ?, ?, ?, 0)");
  const seal = (name: string, v: number) =>
    Buffer.from(c.sealValue(dek, 1, valueAad(ORG, APP, name, v), enc.encode("1234")));
  version.run(ORG, APP, "A", 1, 1, seal("A", 1), oldDigest);
  version.run(ORG, APP, "A", 2, 2, null, null);
  version.run(ORG, APP, "A", 3, 3, seal("A", 3), oldDigest);
  version.run(ORG, APP, "B", 1, 1, seal("B", 1), oldDigest);
  const head = sqlite.prepare("INSERT INTO secret_heads VALUES (?, ?, ?, ?, 1, 0, 0)");
  head.run(ORG, APP, "A", 3);
  head.run(ORG, APP, "B", 1);
  const request = sqlite.prepare("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?)");
  const digestText = `hmac-sha256:${oldDigest.toString("hex")}`;
  request.run(
    "client",
    "rid-set",
    "set",
    Buffer.alloc(32),
    JSON.stringify({ digest: digestText }),
    Date.now(),
  );
  request.run("client", "rid-unset", "set", Buffer.alloc(32), JSON.stringify({ digest: null }), Date.now());
  sqlite.close();
  return [oldDigest];
}

describe("migration 0003: value-keyed digests of an existing database", () => {
  it("no value-keyed digest survives: each version gets its own random id, the digest key is dropped, values still resolve", () => {
    const dir = mkdtempSync(join(tmpdir(), "petsem-migrate-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "petsem.db");
    const kek = newKek();
    const [old] = writeOldDatabase(file, oldMigrations(dir), kek) as [Buffer];
    expect(readFileSync(file).includes(old)).toBe(true); // the scan below can see a digest

    const store = SecretStore.open({ file, kek });
    const list = store.list({ org: 7n, app: 42n });
    const resolved = store.resolve({ org: 7n, app: 42n, minVersion: 3 });
    store.close();

    expect(list.secrets.map((s) => [s.name, s.version])).toEqual([
      ["A", 3],
      ["B", 1],
    ]);
    const shown = list.secrets.map((s) => s.digest);
    for (const d of shown) {
      expect(d).toMatch(/^rand128:[0-9a-f]{32}$/);
      expect(d).not.toContain(old.toString("hex"));
    }
    expect(new Set(shown).size).toBe(2); // equal values, unrelated digests
    expect(resolved.secrets.map((s) => s.value)).toEqual(["1234", "1234"]);

    const raw = new Database(file, { readonly: true });
    try {
      const rows = raw
        .prepare("SELECT name, version, digest FROM secret_versions ORDER BY name, version")
        .all() as { name: string; version: number; digest: Buffer | null }[];
      expect(rows.map((r) => [r.name, r.version, r.digest === null])).toEqual([
        ["A", 1, false],
        ["A", 2, true], // a tombstone keeps no digest
        ["A", 3, false],
        ["B", 1, false],
      ]);
      const kept = rows.flatMap((r) => (r.digest ? [r.digest.toString("hex")] : []));
      expect(new Set(kept).size).toBe(3);
      expect(kept).not.toContain(old.toString("hex"));
      const cols = raw.prepare("SELECT name FROM pragma_table_info('apps')").all() as { name: string }[];
      expect(cols.map((c) => c.name)).not.toContain("wrapped_digest_key");
      // a replay record whose result carried an old digest is gone; the others stay
      const rids = raw.prepare("SELECT rid FROM requests").all() as { rid: string }[];
      expect(rids.map((r) => r.rid)).toEqual(["rid-unset"]);
    } finally {
      raw.close();
    }
    // secure_delete: the old digest bytes are not left anywhere in the database or its WAL
    for (const f of [file, `${file}-wal`]) {
      if (existsSync(f)) expect(readFileSync(f).includes(old), f).toBe(false);
    }
  });
});
