import { writeFileSync } from "node:fs";
import { ConfigError as ServiceConfigError } from "@tkdb/service";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toOpenSearchBulk } from "../src/audit.js";
import {
  backends,
  createKeyring,
  kekCheckRole,
  kekCheckValue,
  randomBytes,
  sealRootKey,
  unsealRootKey,
} from "../src/crypto.js";
import { loadConfig } from "../src/env.js";
import { TkdbError } from "../src/errors.js";
import { startTkdb } from "../src/server.js";
import { DrizzleStore } from "../src/store.js";
import { fixture, tempDir } from "./helpers.js";

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

describe("root keys sealed on the shared keyring", () => {
  const kek = randomBytes(32);
  const ring = createKeyring({ kek });
  const kid = randomBytes(16);
  const key = randomBytes(32);

  it("a sealed root key opens with the same KEK, org and kid", () => {
    expect(unsealRootKey(ring, "7", kid, sealRootKey(ring, ring.current, "7", kid, key))).toEqual(key);
  });

  it("a sealed root key refuses another org, another kid, another KEK or a flipped bit", () => {
    const s = sealRootKey(ring, ring.current, "7", kid, key);
    expect(() => unsealRootKey(ring, "8", kid, s)).toThrow(TkdbError);
    expect(() => unsealRootKey(ring, "7", randomBytes(16), s)).toThrow(TkdbError);
    expect(() => unsealRootKey(createKeyring({ kek: randomBytes(32) }), "7", kid, s)).toThrow(TkdbError);
    const f = s.slice();
    f[30] = (f[30] as number) ^ 1;
    expect(() => unsealRootKey(ring, "7", kid, f)).toThrow(TkdbError);
  });

  it("a check value names its KEK, and a keyring without that KEK refuses it with wrong_kek", () => {
    expect(kekCheckRole(ring, kekCheckValue(ring)).kid).toBe(ring.current);
    expect(() => kekCheckRole(createKeyring({ kek: randomBytes(32) }), kekCheckValue(ring))).toThrow(
      expect.objectContaining({ code: "wrong_kek" }),
    );
    expect(backends[1]!.sha256(new Uint8Array([1, 2]))).toEqual(backends[0]!.sha256(new Uint8Array([1, 2])));
  });
});

describe("storage and audit chain", () => {
  it("the blacklist table has Fly's published columns", () => {
    const s = new DrizzleStore(`${t.dir}/a.db`, backends[0]!);
    s.close();
    const db = new Database(`${t.dir}/a.db`);
    const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name='blacklist'").get() as { sql: string })
      .sql;
    db.close();
    expect(sql).toMatch(
      /nonce BLOB NOT NULL UNIQUE,\s*required_until DATETIME,\s*created_at DATETIME DEFAULT CURRENT_TIMESTAMP/,
    );
  });

  it("pruning never lets a later revocation hide below a follower's cursor (the newest row is kept)", () => {
    const s = new DrizzleStore(`${t.dir}/feed.db`, backends[0]!);
    const day = 24 * 3600;
    const nowS = 10 * day;
    // Two revocations whose tokens expired long ago; a follower has read both.
    s.revoke(randomBytes(16), nowS - 3 * day);
    s.revoke(randomBytes(16), nowS - 3 * day);
    const seen = s.revocationsSince(0, 100);
    expect(seen.nonces).toHaveLength(2);
    // A restart prunes rows past required_until; then a new revocation arrives.
    s.pruneBlacklist(nowS - day);
    const fresh = randomBytes(16);
    s.revoke(fresh, null);
    const next = s.revocationsSince(seen.cursor, 100);
    s.close();
    expect(next.nonces.map((n) => Buffer.from(n).toString("hex"))).toEqual([
      Buffer.from(fresh).toString("hex"),
    ]);
  });

  it("legacy audit export (the old table, no longer written) writes an OpenSearch bulk action line and a document per record", () => {
    const s = new DrizzleStore(`${t.dir}/a.db`, backends[0]!);
    s.sqlite
      .prepare(
        "INSERT INTO audit (seq, ts, op, actor, subject, details, prev_hash, hash) VALUES (1, 0, 'revoke', 'c', 'n', ?, ?, ?)",
      )
      .run(JSON.stringify({ revoked: true }), "0".repeat(64), "a".repeat(64));
    const lines = toOpenSearchBulk(s.auditRecords())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    s.close();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({ index: { _index: "tkdb-audit", _id: "1" } });
    expect(lines[1]).toMatchObject({ op: "revoke", seq: 1, "@timestamp": "1970-01-01T00:00:00.000Z" });
  });

  it("a failing transaction leaves neither the revocation nor its audit_intents row", () => {
    const s = new DrizzleStore(`${t.dir}/a.db`, backends[0]!);
    expect(() =>
      s.transaction(() => {
        s.revoke(new Uint8Array([1]), null);
        s.recordIntent("n1", 7, "a".repeat(64), 0);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(s.anyRevoked([new Uint8Array([1])])).toBe(false);
    expect(s.intentCommitted("n1", 7, "a".repeat(64))).toBe(false);
    s.close();
  });

  it("a verify's one-statement read sees a revocation of any presented nonce (1 to 20 of them) and no retired key", () => {
    const s = new DrizzleStore(`${t.dir}/a.db`, backends[0]!);
    const kid = randomBytes(16);
    s.insertRootKey({ org: "7", kid, sealedKey: randomBytes(60), created: 0 });
    const nonces = Array.from({ length: 20 }, (_, i) => new Uint8Array([i + 1, 0xaa]));
    s.revoke(nonces[19] as Uint8Array, null);
    for (let k = 1; k <= 20; k++) {
      const got = s.rootKeyAndRevoked(kid, nonces.slice(20 - k));
      expect(got?.row.org).toBe("7");
      expect(got?.revoked).toBe(true);
      expect(s.rootKeyAndRevoked(kid, nonces.slice(0, Math.min(k, 19)))?.revoked).toBe(false);
      expect(s.anyRevoked(nonces.slice(20 - k))).toBe(true);
      expect(s.anyRevoked(nonces.slice(0, Math.min(k, 19)))).toBe(false);
    }
    expect(s.rootKeyAndRevoked(randomBytes(16), nonces)).toBeUndefined();
    s.sqlite.prepare("UPDATE root_keys SET retired_at = 1 WHERE kid = ?").run(Buffer.from(kid));
    expect(s.rootKeyAndRevoked(kid, nonces.slice(0, 2))).toBeUndefined();
    s.close();
  });
});

describe("KEK and configuration", () => {
  it("a server restarted with a wrong KEK refuses with wrong_kek and leaves the database unchanged", async () => {
    const fx = fixture(t.dir);
    const h = await startTkdb(fx.config);
    await h.close();
    const count = () => {
      const db = new Database(fx.config.dbPath, { readonly: true });
      const r = db.prepare("SELECT count(*) AS n FROM meta").get();
      db.close();
      return r;
    };
    const before = count();
    await expect(startTkdb({ ...fx.config, kek: randomBytes(32) })).rejects.toMatchObject({
      code: "wrong_kek",
    });
    expect(count()).toEqual(before);
    const again = await startTkdb(fx.config);
    await again.close();
  });

  const base = { TKDB_NOISE_KEY: "11".repeat(32), TKDB_KEK: "22".repeat(32) };
  it("config without a KEK is refused, naming the variable", () => {
    expect(() => loadConfig({ TKDB_NOISE_KEY: base.TKDB_NOISE_KEY })).toThrow(
      /TKDB_KEK: is required \(set TKDB_KEK or TKDB_KEK_FILE\)/,
    );
  });

  it("TKDB_KEK_FILE is read; setting both KEK and KEK_FILE, or an unreadable file, is refused", () => {
    const f = `${t.dir}/kek`;
    writeFileSync(f, `${"5a".repeat(32)}\n`);
    expect(loadConfig({ TKDB_NOISE_KEY: base.TKDB_NOISE_KEY, TKDB_KEK_FILE: f }).kek).toEqual(
      new Uint8Array(32).fill(0x5a),
    );
    expect(() => loadConfig({ ...base, TKDB_KEK_FILE: f })).toThrow(/only one of TKDB_KEK/);
    expect(() => loadConfig({ TKDB_NOISE_KEY: base.TKDB_NOISE_KEY, TKDB_KEK_FILE: `${f}.missing` })).toThrow(
      /TKDB_KEK_FILE: the file .* cannot be read/,
    );
  });

  it("config errors never echo the secret value", () => {
    const bad = "ab".repeat(31);
    try {
      loadConfig({ ...base, TKDB_KEK: bad });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ServiceConfigError);
      expect(String((err as Error).message)).not.toContain(bad);
    }
  });

  it("config parses defaults: loopback host, port 7401, default locations, TTL 60, no third parties", () => {
    const c = loadConfig(base);
    expect(c.host).toBe("127.0.0.1");
    expect(c.port).toBe(7401);
    expect(loadConfig({ ...base, TKDB_PORT: "0" }).port).toBe(0);
    expect(c.location).toBe("https://api.fly.io/v1");
    expect(c.authLocation).toBe("https://api.fly.io/aaa/v1");
    expect(c.dischargeTtl).toBe(60);
    expect(c.thirdPartyKeys.size).toBe(0);
    expect(() => loadConfig({ ...base, TKDB_PORT: "99999" })).toThrow(ServiceConfigError);
    expect(() => loadConfig({ ...base, TKDB_DISCHARGE_TTL: "0" })).toThrow(/TKDB_DISCHARGE_TTL/);
  });

  it("TKDB_TP_KEYS maps locations to keys in base64, base64url or hex; KEK accepts base64url", () => {
    const k1 = Buffer.alloc(32, 0xfb).toString("base64");
    const k2 = Buffer.alloc(32, 0xfe).toString("base64url");
    const c = loadConfig({
      ...base,
      TKDB_KEK: Buffer.alloc(32, 7).toString("base64url"),
      TKDB_TP_KEYS: `https://api.fly.io/aaa/v1=${k1}, https://api.fly.io/v1=${k2},https://x.example=${"33".repeat(32)}`,
    });
    expect(c.kek).toEqual(new Uint8Array(32).fill(7));
    expect([...c.thirdPartyKeys.keys()]).toEqual([
      "https://api.fly.io/aaa/v1",
      "https://api.fly.io/v1",
      "https://x.example",
    ]);
    expect(c.thirdPartyKeys.get("https://api.fly.io/aaa/v1")).toEqual(new Uint8Array(32).fill(0xfb));
    expect(c.thirdPartyKeys.get("https://api.fly.io/v1")).toEqual(new Uint8Array(32).fill(0xfe));
  });

  it("a malformed TKDB_TP_KEYS entry is refused without echoing the key", () => {
    const key = Buffer.alloc(31, 9).toString("base64");
    for (const v of [`https://a.example=${key}`, `nolocation`, `=${"33".repeat(32)}`]) {
      try {
        loadConfig({ ...base, TKDB_TP_KEYS: v });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ServiceConfigError);
        expect((err as Error).message).toMatch(/TKDB_TP_KEYS: item 0/);
        expect((err as Error).message).not.toContain(key);
      }
    }
  });
});
