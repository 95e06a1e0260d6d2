import { existsSync, readFileSync } from "node:fs";
import Database from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backends } from "../src/crypto.js";
import { isPetsemError, type PetsemError } from "../src/errors.js";
import { SecretStore } from "../src/store.js";
import { LIMITS } from "../src/validate.js";
import { APP, BACKENDS, freshStore, ORG } from "./helpers.js";

function caught(fn: () => unknown): PetsemError {
  try {
    fn();
  } catch (e) {
    if (isPetsemError(e)) return e;
    throw e;
  }
  throw new Error("expected a PetsemError");
}

/** Logical snapshot of every table (to compare "no state change"). */
function snapshot(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, unknown[]> = {};
    for (const tbl of [
      "apps",
      "secret_versions",
      "secret_heads",
      "requests",
      "idempotency_records",
      "audit",
      "audit_applied",
      "app_epochs",
      "meta",
    ]) {
      out[tbl] = db.prepare(`SELECT * FROM ${tbl} ORDER BY 1, 2`).all();
    }
    return JSON.stringify(out, (_k, v) => (Buffer.isBuffer(v) ? v.toString("hex") : v));
  } finally {
    db.close();
  }
}

describe.each(BACKENDS)("SecretStore (%s)", (backend) => {
  it("set then resolve returns the values; list shows digests and never values", () => {
    const { store } = freshStore(backend);
    const r = store.set({ org: ORG, app: APP, values: { DATABASE_URL: "postgres://x", API_KEY: "k-123" } });
    expect(r.app_version).toBe(1);
    expect(r.changed).toBe(true);
    const list = store.list({ org: ORG, app: APP });
    expect(list.app_version).toBe(1);
    expect(list.secrets.map((s) => s.name)).toEqual(["API_KEY", "DATABASE_URL"]);
    for (const s of list.secrets) expect(s.digest).toMatch(/^rand128:[0-9a-f]{32}$/);
    expect(JSON.stringify(list)).not.toContain("postgres://x");
    expect(JSON.stringify(list)).not.toContain("k-123");
    const got = store.resolve({ org: ORG, app: APP, minVersion: 1 });
    expect(got.secrets).toEqual([
      { name: "API_KEY", version: 1, value: "k-123" },
      { name: "DATABASE_URL", version: 1, value: "postgres://x" },
    ]);
    const some = store.resolve({ org: ORG, app: APP, minVersion: 0, names: ["API_KEY", "NOPE"] });
    expect(some.secrets.map((s) => s.name)).toEqual(["API_KEY"]);
    expect(some.missing).toEqual(["NOPE"]);
  });

  it("P16: a batch is atomic; app_version +1 per successful batch, unchanged on failure", () => {
    const { store, file } = freshStore(backend);
    store.set({ org: ORG, app: APP, values: { A: "1" } });
    const before = snapshot(file);
    const e = caught(() => store.set({ org: ORG, app: APP, values: { B: "2", "bad-name": "3", C: "4" } }));
    expect(e.code).toBe("invalid_name");
    expect(snapshot(file)).toBe(before);
    expect(store.appVersion(ORG, APP)).toBe(1);
    // failure discovered inside the transaction (cas), after other rows were staged
    const e2 = caught(() => store.set({ org: ORG, app: APP, values: { A: "9", B: "2" }, cas: { B: 3 } }));
    expect(e2.code).toBe("cas_mismatch");
    expect(store.resolve({ org: ORG, app: APP, minVersion: 1 }).secrets).toEqual([
      { name: "A", version: 1, value: "1" },
    ]);
    const ok = store.set({ org: ORG, app: APP, values: { A: "9", B: "2", C: null } });
    expect(ok.app_version).toBe(2);
    expect(store.set({ org: ORG, app: APP, values: { D: "x" } }).app_version).toBe(3);
  });

  it("P16 (property): app_version counts exactly the batches that wrote a value or unset a live name", () => {
    const { store } = freshStore(backend);
    const nameArb = fc.constantFrom("A", "B", "C", "D");
    const batchArb = fc.dictionary(nameArb, fc.option(fc.constantFrom("x", "y", "z"), { nil: null }), {
      minKeys: 1,
    });
    fc.assert(
      fc.property(fc.array(batchArb, { minLength: 1, maxLength: 8 }), (batches) => {
        const app = BigInt(1000 + Math.floor(Math.random() * 1e9));
        const model = new Map<string, string>();
        let version = 0;
        for (const b of batches) {
          let changes = 0;
          for (const [k, v] of Object.entries(b)) {
            // every value written is a new version, equal to the stored one or not (item 1)
            if (v !== null || model.has(k)) changes++;
            if (v === null) model.delete(k);
            else model.set(k, v);
          }
          const r = store.set({ org: ORG, app, values: b });
          if (changes > 0) version++;
          expect(r.app_version).toBe(version);
          expect(r.changed).toBe(changes > 0);
        }
        const got = store.resolve({ org: ORG, app, minVersion: version });
        expect(Object.fromEntries(got.secrets.map((s) => [s.name, s.value]))).toEqual(
          Object.fromEntries(model),
        );
      }),
      { numRuns: 25 },
    );
  });

  it("P19: setting an identical value is an ordinary new version, answered exactly like a different value", () => {
    // (deliberate change from bea118d, where an identical value was a no-op that kept the digest)
    const replyShape = (r: { app_version: number; changed: boolean; secrets: { digest: string | null }[] }) =>
      // the epoch is random per database (store/epochs.ts): two stores are compared without it
      JSON.stringify({ ...r, epoch: 0, secrets: r.secrets.map((x) => ({ ...x, digest: x.digest?.length })) });
    const same = freshStore(backend).store;
    const diff = freshStore(backend).store;
    const a1 = same.set({ org: ORG, app: APP, values: { A: "same" } });
    const a2 = same.set({ org: ORG, app: APP, values: { A: "same" } });
    diff.set({ org: ORG, app: APP, values: { A: "same" } });
    const b2 = diff.set({ org: ORG, app: APP, values: { A: "other" } });
    expect(a2).toMatchObject({
      app_version: 2,
      changed: true,
      secrets: [{ name: "A", version: 2, changed: true }],
    });
    expect(a2.secrets[0]?.digest).not.toBe(a1.secrets[0]?.digest);
    expect(replyShape(a2)).toBe(replyShape(b2));
    const l1 = same.list({ org: ORG, app: APP }).secrets.map((x) => ({ ...x, created_at: 0, updated_at: 0 }));
    expect(l1).toEqual([
      { name: "A", version: 2, app_version: 2, digest: a2.secrets[0]?.digest, created_at: 0, updated_at: 0 },
    ]);
    const c = same.set({ org: ORG, app: APP, values: { A: "same", B: "new" } });
    expect(c.app_version).toBe(3);
    expect(c.secrets.find((s) => s.name === "A")).toMatchObject({ version: 3, changed: true });
  });

  it("P11: no digest stored or returned is a function of the value (equal values, unrelated digests)", () => {
    const { store, file } = freshStore(backend);
    const digests = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = store.set({ org: ORG, app: APP, values: { A: "1234", B: "1234" } });
      for (const x of r.secrets) digests.add(x.digest as string);
    }
    const rb = store.rollback({ org: ORG, app: APP, name: "A", toVersion: 20 });
    digests.add(rb.digest);
    expect(digests.size).toBe(41);
    const raw = new Database(file, { readonly: true });
    try {
      const stored = raw.prepare("SELECT digest FROM secret_versions WHERE digest IS NOT NULL").all() as {
        digest: Buffer;
      }[];
      const hex = new Set(stored.map((r) => r.digest.toString("hex")));
      expect(hex.size).toBe(stored.length);
      // no per-app digest key is kept any more
      const cols = raw.prepare("SELECT name FROM pragma_table_info('apps')").all() as { name: string }[];
      expect(cols.map((c) => c.name)).not.toContain("wrapped_digest_key");
    } finally {
      raw.close();
    }
  });

  it("P22: unset of a missing name succeeds without a new version; unset leaves no ciphertext", () => {
    const { store, file } = freshStore(backend);
    const r0 = store.unset({ org: ORG, app: APP, names: ["NEVER_SET"] });
    expect(r0).toMatchObject({ app_version: 0, changed: false });
    store.set({ org: ORG, app: APP, values: { A: "1" } });
    const r1 = store.unset({ org: ORG, app: APP, names: ["A", "NEVER_SET"] });
    expect(r1.app_version).toBe(2);
    const r2 = store.unset({ org: ORG, app: APP, names: ["A"] });
    expect(r2).toMatchObject({ app_version: 2, changed: false });
    expect(store.list({ org: ORG, app: APP }).secrets).toEqual([]);
    expect(store.resolve({ org: ORG, app: APP, minVersion: 2 }).secrets).toEqual([]);
    const raw = new Database(file, { readonly: true });
    const tomb = raw
      .prepare("SELECT sealed, digest FROM secret_versions WHERE name = 'A' AND version = 2")
      .get();
    raw.close();
    expect(tomb).toEqual({ sealed: null, digest: null });
  });

  it("check-and-set: expected_app_version guards a batch; cas 0 means create-only", () => {
    const { store } = freshStore(backend);
    expect(store.set({ org: ORG, app: APP, values: { A: "1" }, cas: { A: 0 } }).app_version).toBe(1);
    expect(caught(() => store.set({ org: ORG, app: APP, values: { A: "2" }, cas: { A: 0 } })).code).toBe(
      "cas_mismatch",
    );
    expect(store.set({ org: ORG, app: APP, values: { A: "2" }, cas: { A: 1 } }).app_version).toBe(2);
    const e = caught(() => store.set({ org: ORG, app: APP, values: { B: "1" }, expectedAppVersion: 1 }));
    expect(e.code).toBe("cas_mismatch");
    expect(e.details).toEqual({ current_app_version: 2 });
    expect(store.set({ org: ORG, app: APP, values: { B: "1" }, expectedAppVersion: 2 }).app_version).toBe(3);
    expect(caught(() => store.set({ org: ORG, app: APP, values: { B: "1" }, cas: { C: 0 } })).code).toBe(
      "invalid_request",
    );
  });

  it("rollback re-seals an earlier version server-side and returns no value", () => {
    const { store } = freshStore(backend);
    const v1 = store.set({ org: ORG, app: APP, values: { A: "first" } });
    store.set({ org: ORG, app: APP, values: { A: "second" } });
    const rb = store.rollback({ org: ORG, app: APP, name: "A", toVersion: 1, cas: 2 });
    expect(rb).toMatchObject({ name: "A", version: 3, app_version: 3, changed: true });
    // a fresh digest: the new version is not announced as equal to version 1
    expect(rb.digest).toMatch(/^rand128:[0-9a-f]{32}$/);
    expect(rb.digest).not.toBe(v1.secrets[0]?.digest);
    expect(JSON.stringify(rb)).not.toContain("first");
    expect(store.resolve({ org: ORG, app: APP, minVersion: 3 }).secrets).toEqual([
      { name: "A", version: 3, value: "first" },
    ]);
    // rolling back to the value it already has is an ordinary new version too (deliberate change
    // from bea118d, where it was a no-op that told a writer the two values were equal)
    expect(store.rollback({ org: ORG, app: APP, name: "A", toVersion: 1 })).toMatchObject({
      version: 4,
      app_version: 4,
      changed: true,
    });
    expect(caught(() => store.rollback({ org: ORG, app: APP, name: "A", toVersion: 9 })).code).toBe(
      "not_found",
    );
    expect(caught(() => store.rollback({ org: ORG, app: APP, name: "A", toVersion: 2, cas: 2 })).code).toBe(
      "cas_mismatch",
    );
    store.unset({ org: ORG, app: APP, names: ["A"] });
    expect(caught(() => store.rollback({ org: ORG, app: APP, name: "A", toVersion: 5 })).code).toBe(
      "not_found",
    );
    // rollback revives an unset secret
    expect(store.rollback({ org: ORG, app: APP, name: "A", toVersion: 2 })).toMatchObject({
      version: 6,
      changed: true,
    });
    expect(store.resolve({ org: ORG, app: APP, minVersion: 0 }).secrets[0]?.value).toBe("second");
  });

  it("P17: resolve and list with min_version above the store's version fail with stale, never older values", () => {
    const { store, file, kek } = freshStore(backend);
    store.set({ org: ORG, app: APP, values: { A: "old" } });
    // a lagging replica: a copy of the database taken at version 1
    const replicaFile = `${file}.replica`;
    const src = new Database(file);
    src.prepare("VACUUM INTO ?").run(replicaFile);
    src.close();
    store.set({ org: ORG, app: APP, values: { A: "new" } });
    const replica = SecretStore.open({ file: replicaFile, kek, backend });
    try {
      const e = caught(() => replica.resolve({ org: ORG, app: APP, minVersion: 2 }));
      expect(e.code).toBe("stale");
      expect(e.details).toEqual({ app_version: 1, min_version: 2, epoch: replica.epoch() });
      expect(JSON.stringify(e)).not.toContain("old");
      expect(caught(() => replica.list({ org: ORG, app: APP, minVersion: 2 })).code).toBe("stale");
      expect(store.resolve({ org: ORG, app: APP, minVersion: 2 }).secrets[0]?.value).toBe("new");
      expect(caught(() => store.resolve({ org: ORG, app: 999n, minVersion: 1 })).code).toBe("stale");
    } finally {
      replica.close();
    }
  });

  it("P20: names must match the rule and not use FLY_; errors never echo the input", () => {
    const { store } = freshStore(backend);
    const valid = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,40}$/).filter((n) => !n.startsWith("FLY_"));
    const invalid = fc.oneof(
      fc.string({ minLength: 0, maxLength: 40 }).filter((n) => !/^[A-Za-z_][A-Za-z0-9_]{0,254}$/.test(n)),
      fc.constant(`A${"b".repeat(255)}`),
      fc.stringMatching(/^[0-9][A-Za-z0-9_]{0,10}$/),
      fc.constant("fm2_lJPECAAAAAAAAA+token"),
    );
    fc.assert(
      fc.property(invalid, (name) => {
        const e = caught(() => store.set({ org: ORG, app: APP, values: { [name]: "v" } }));
        expect(e.code).toBe("invalid_name");
        const text = `${e.message}${JSON.stringify(e)}${String(e)}`;
        if (name.length >= 3) expect(text).not.toContain(name);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(valid, (name) => {
        expect(store.set({ org: ORG, app: APP, values: { [name]: "v" } }).app_version).toBeGreaterThan(0);
      }),
      { numRuns: 50 },
    );
    expect(store.set({ org: ORG, app: APP, values: { [`A${"b".repeat(254)}`]: "v" } }).changed).toBe(true);
    const e = caught(() => store.set({ org: ORG, app: APP, values: { FLY_SECRET_TOKEN: "v" } }));
    expect(e.code).toBe("reserved_name");
    expect(e.message).not.toContain("FLY_SECRET_TOKEN");
  });

  it("names like __proto__ are ordinary names, not prototype keys", () => {
    const { store } = freshStore(backend);
    const values = JSON.parse('{"__proto__":"p","constructor":"c"}') as Record<string, string>;
    store.set({ org: ORG, app: APP, values });
    expect(store.resolve({ org: ORG, app: APP, minVersion: 1 }).secrets.map((s) => s.name)).toEqual([
      "__proto__",
      "constructor",
    ]);
  });

  it("P21: size and count limits are enforced before any crypto or storage", () => {
    let calls = 0; // every primitive call except audit-chain hashing
    const counting = new Proxy(backends[backend], {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv);
        return typeof v === "function"
          ? (...args: unknown[]) => {
              if (prop !== "sha256") calls++; // sha256 = audit chain only
              return v.apply(target, args);
            }
          : v;
      },
    });
    const { store, file } = freshStore(backend);
    (store.crypto as { prims: unknown }).prims = counting;
    const before = snapshot(file);
    const max = LIMITS.maxValueBytes;
    const cases: [Record<string, string>, string][] = [
      [{ A: "x".repeat(max + 1) }, "too_large"],
      [{ A: `${"x".repeat(max - 1)}é` }, "too_large"], // max + 1 bytes of UTF-8
      [Object.fromEntries(Array.from({ length: LIMITS.maxBatch + 1 }, (_, i) => [`N${i}`, "v"])), "too_many"],
    ];
    for (const [values, code] of cases) {
      const e = caught(() => store.set({ org: ORG, app: APP, values }));
      expect(e.code).toBe(code);
      expect(e.message).not.toContain("xxxx");
    }
    expect(calls).toBe(0);
    expect(snapshot(file)).toBe(before);
    // boundaries are accepted
    expect(store.set({ org: ORG, app: APP, values: { A: "x".repeat(max) } }).changed).toBe(true);
    const full = Object.fromEntries(
      Array.from({ length: LIMITS.maxBatch }, (_, i) => [`N${i}`, i < LIMITS.maxSecretsPerApp ? "v" : null]),
    );
    expect(store.set({ org: ORG, app: APP + 1n, values: full }).changed).toBe(true);
    const fill = Object.fromEntries(
      Array.from({ length: LIMITS.maxSecretsPerApp - 1 }, (_, i) => [`N${i}`, "v"]),
    );
    expect(store.set({ org: ORG, app: APP, values: fill }).changed).toBe(true);
    // maxSecretsPerApp live + B > limit: refused inside the transaction before sealing anything
    const callsBefore = calls;
    const e = caught(() => store.set({ org: ORG, app: APP, values: { B: "one too many" } }));
    expect(e.code).toBe("too_many");
    expect(calls - callsBefore).toBe(0); // no seal, no digest, no key unwrap
    // replacing one keeps the count
    expect(store.set({ org: ORG, app: APP, values: { A: null, B: "fits" } }).changed).toBe(true);
  });

  it("item 6: a rollback cannot revive an unset name past the live-secret limit", () => {
    const { store } = freshStore(backend);
    const fill = Object.fromEntries(
      Array.from({ length: LIMITS.maxSecretsPerApp }, (_, i) => [`N${i}`, "v"]),
    );
    store.set({ org: ORG, app: APP, values: fill });
    store.unset({ org: ORG, app: APP, names: ["N0"] });
    store.set({ org: ORG, app: APP, values: { OTHER: "v" } }); // the app is full again
    const e = caught(() => store.rollback({ org: ORG, app: APP, name: "N0", toVersion: 1 }));
    expect(e.code).toBe("too_many");
    expect(store.list({ org: ORG, app: APP }).secrets.length).toBe(LIMITS.maxSecretsPerApp);
    // a rollback of a live name keeps the count, so it is allowed at the limit
    expect(store.rollback({ org: ORG, app: APP, name: "N1", toVersion: 1 }).changed).toBe(true);
    expect(store.resolve({ org: ORG, app: APP, minVersion: 0 }).secrets.length).toBe(LIMITS.maxSecretsPerApp);
  });

  it("P2 (stored): any byte change of a stored ciphertext makes resolve fail with integrity, never garbage", () => {
    const { store, file } = freshStore(backend);
    store.set({ org: ORG, app: APP, values: { A: "attack at dawn" } });
    const raw = new Database(file);
    try {
      const orig = (
        raw.prepare("SELECT sealed FROM secret_versions WHERE name = 'A'").get() as { sealed: Buffer }
      ).sealed;
      const upd = raw.prepare("UPDATE secret_versions SET sealed = ? WHERE name = 'A'");
      for (let i = 0; i < orig.length; i++) {
        const bad = Buffer.from(orig);
        bad[i] = (bad[i] as number) ^ 0x5a;
        upd.run(bad);
        expect(caught(() => store.resolve({ org: ORG, app: APP, minVersion: 1 })).code, `byte ${i}`).toBe(
          "integrity",
        );
      }
      upd.run(orig);
      expect(store.resolve({ org: ORG, app: APP, minVersion: 1 }).secrets[0]?.value).toBe("attack at dawn");
      // a changed wrapped DEK is refused too (and not served from the key cache)
      const dek = (raw.prepare("SELECT wrapped_dek FROM apps").get() as { wrapped_dek: Buffer }).wrapped_dek;
      const badDek = Buffer.from(dek);
      badDek[20] = (badDek[20] as number) ^ 1;
      raw.prepare("UPDATE apps SET wrapped_dek = ?").run(badDek);
      expect(caught(() => store.resolve({ org: ORG, app: APP, minVersion: 1 })).code).toBe("integrity");
    } finally {
      raw.close();
    }
  });

  it("P3 (stored): a ciphertext row moved to another app, name or version fails to decrypt", () => {
    const { store, file } = freshStore(backend);
    store.set({ org: ORG, app: APP, values: { A: "secret-a", B: "secret-b" } });
    store.set({ org: ORG, app: APP, values: { B: "secret-b2" } });
    store.set({ org: ORG, app: APP + 1n, values: { A: "other-app" } });
    const raw = new Database(file);
    try {
      const get = (app: bigint, name: string, v: number) =>
        (
          raw
            .prepare("SELECT sealed FROM secret_versions WHERE app = ? AND name = ? AND version = ?")
            .get(app.toString(), name, v) as { sealed: Buffer }
        ).sealed;
      const put = (app: bigint, name: string, v: number, sealed: Buffer) =>
        raw
          .prepare("UPDATE secret_versions SET sealed = ? WHERE app = ? AND name = ? AND version = ?")
          .run(sealed, app.toString(), name, v);
      const a = get(APP, "A", 1);
      const b2 = get(APP, "B", 2);
      // another name, same app and key
      put(APP, "B", 2, a);
      expect(caught(() => store.resolve({ org: ORG, app: APP, minVersion: 0, names: ["B"] })).code).toBe(
        "integrity",
      );
      // another version of the same name
      put(APP, "B", 2, get(APP, "B", 1));
      expect(caught(() => store.resolve({ org: ORG, app: APP, minVersion: 0, names: ["B"] })).code).toBe(
        "integrity",
      );
      put(APP, "B", 2, b2);
      // another app (and thus another key): the same name A
      put(APP + 1n, "A", 1, a);
      expect(caught(() => store.resolve({ org: ORG, app: APP + 1n, minVersion: 0 })).code).toBe("integrity");
      // another app even with its DEK copied over: AAD still binds the app
      raw
        .prepare("UPDATE apps SET wrapped_dek = (SELECT wrapped_dek FROM apps WHERE app = ?) WHERE app = ?")
        .run(APP.toString(), (APP + 1n).toString());
      expect(caught(() => store.resolve({ org: ORG, app: APP + 1n, minVersion: 0 })).code).toBe("integrity");
      expect(store.resolve({ org: ORG, app: APP, minVersion: 0 }).secrets.map((s) => s.value)).toEqual([
        "secret-a",
        "secret-b2",
      ]);
    } finally {
      raw.close();
    }
  });

  // P7, P8 and the audit trail itself: test/audit-log.test.ts (the file log, through the audited store).

  it("P18: a repeated (client key, rid) returns the stored result; other arguments are refused", () => {
    const { store } = freshStore(backend);
    const idem = { clientKey: "client-1", rid: "rid-1" };
    const a = store.set({ org: ORG, app: APP, values: { A: "1" } }, { idempotency: idem });
    store.set({ org: ORG, app: APP, values: { B: "2" } });
    const again = store.set({ org: ORG, app: APP, values: { A: "1" } }, { idempotency: idem });
    expect(again).toEqual(a);
    expect(store.appVersion(ORG, APP)).toBe(2);
    expect(
      caught(() => store.set({ org: ORG, app: APP, values: { Z: "1" } }, { idempotency: idem })).code,
    ).toBe("idempotency_mismatch");
    expect(
      caught(() => store.set({ org: ORG, app: APP, values: { A: null } }, { idempotency: idem })).code,
    ).toBe("idempotency_mismatch");
    expect(
      caught(() =>
        store.set({ org: ORG, app: APP, values: { A: "1" }, cas: { A: 1 } }, { idempotency: idem }),
      ).code,
    ).toBe("idempotency_mismatch");
    // values are not compared (deliberate change from bea118d: that comparison was an oracle on
    // the value): the same names with another value get the stored result, nothing is written
    expect(store.set({ org: ORG, app: APP, values: { A: "other" } }, { idempotency: idem })).toEqual(a);
    expect(store.appVersion(ORG, APP)).toBe(2);
    // the same rid from another client is a different request
    expect(
      store.set({ org: ORG, app: APP, values: { A: "other" } }, { idempotency: { ...idem, clientKey: "c2" } })
        .app_version,
    ).toBe(3);
  });

  it("a wrong KEK is detected at open with a clear error and the file is left untouched", () => {
    const { store, file } = freshStore(backend);
    store.set({ org: ORG, app: APP, values: { A: "1" } });
    store.close();
    const bytes = readFileSync(file);
    const e = caught(() => SecretStore.open({ file, kek: new Uint8Array(32).fill(7), backend }));
    expect(e.code).toBe("wrong_kek");
    expect(e.message).toMatch(/PETSEM_KEK/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(existsSync(`${file}-wal`) ? readFileSync(`${file}-wal`).length : 0).toBe(0);
    expect(caught(() => SecretStore.open({ file, kek: new Uint8Array(31), backend })).code).toBe("config");
  });

  it("bad argument types are typed errors, not crashes", () => {
    const { store } = freshStore(backend);
    const bad: [() => unknown, string][] = [
      [() => store.set({ org: 0n, app: APP, values: { A: "1" } }), "invalid_request"],
      [() => store.set({ org: 1 as unknown as bigint, app: APP, values: { A: "1" } }), "invalid_request"],
      [() => store.set({ org: ORG, app: 1n << 64n, values: { A: "1" } }), "invalid_request"],
      [() => store.set({ org: ORG, app: APP, values: {} }), "invalid_request"],
      [() => store.set({ org: ORG, app: APP, values: { A: 5 as unknown as string } }), "invalid_request"],
      [() => store.set({ org: ORG, app: APP, values: { A: "\uD800" } }), "invalid_request"],
      [
        () => store.set({ org: ORG, app: APP, values: null as unknown as Record<string, string> }),
        "invalid_request",
      ],
      [
        () => store.set({ org: ORG, app: APP, values: { A: "1" }, expectedAppVersion: -1 }),
        "invalid_request",
      ],
      [() => store.resolve({ org: ORG, app: APP, minVersion: 1.5 }), "invalid_request"],
      [
        () => store.resolve({ org: ORG, app: APP, minVersion: 0, names: "A" as unknown as string[] }),
        "invalid_request",
      ],
      [() => store.unset({ org: ORG, app: APP, names: [""] }), "invalid_name"],
    ];
    for (const [fn, code] of bad) expect(caught(fn).code).toBe(code);
  });

  it("P22: versions beyond the retention limit are destroyed and cannot be rolled back to", () => {
    const { store, file } = freshStore(backend);
    const n = LIMITS.versionsKept + 3;
    for (let i = 1; i <= n; i++) store.set({ org: ORG, app: APP, values: { A: `value-${i}` } });
    const raw = new Database(file, { readonly: true });
    const versions = raw
      .prepare("SELECT version FROM secret_versions WHERE name = 'A' ORDER BY version")
      .all()
      .map((r) => (r as { version: number }).version);
    raw.close();
    expect(versions).toEqual(
      Array.from({ length: LIMITS.versionsKept }, (_, i) => n - LIMITS.versionsKept + 1 + i),
    );
    expect(caught(() => store.rollback({ org: ORG, app: APP, name: "A", toVersion: 1 })).code).toBe(
      "not_found",
    );
    expect(store.rollback({ org: ORG, app: APP, name: "A", toVersion: n - 1 })).toMatchObject({
      changed: true,
    });
    expect(store.resolve({ org: ORG, app: APP, minVersion: 0 }).secrets[0]?.value).toBe(`value-${n - 1}`);
  });

  it("P11: a repeated rid with a guessed value is answered the same whether the guess is right or not", () => {
    const reply = (guess: string) => {
      const { store } = freshStore(backend);
      const idem = { clientKey: "api-server", rid: "rid-of-the-users-write" };
      store.set({ org: ORG, app: APP, values: { PIN: "4321" } }, { idempotency: idem });
      try {
        return JSON.stringify(
          store.set({ org: ORG, app: APP, values: { PIN: guess } }, { idempotency: idem }),
        );
      } catch (e) {
        return isPetsemError(e) ? e.code : String(e);
      }
    };
    // digests and the epoch are random per version and per database; times differ
    const norm = (r: string) =>
      r
        .replace(/rand128:[0-9a-f]{32}/g, "D")
        .replace(/"\d{4}-[^"]+"/g, "T")
        .replace(/"epoch":"[0-9a-f]{16}"/, "E");
    expect(norm(reply("4321"))).toBe(norm(reply("1234")));
  });

  it("idempotency records expire after the clients' retry horizon (10 minutes), not 24 hours", () => {
    let now = Date.now();
    const { store } = freshStore(backend, { now: () => now });
    const idem = { clientKey: "c", rid: "r" };
    store.set({ org: ORG, app: APP, values: { A: "1" } }, { idempotency: idem });
    now += 9 * 60_000;
    expect(
      caught(() => store.set({ org: ORG, app: APP, values: { A2: "2" } }, { idempotency: idem })).code,
    ).toBe("idempotency_mismatch");
    now += 2 * 60_000;
    expect(store.set({ org: ORG, app: APP, values: { A2: "2" } }, { idempotency: idem }).changed).toBe(true);
  });
});
