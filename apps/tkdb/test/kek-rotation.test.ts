/**
 * `tkdb kek rotate` (src/kek-rotation.ts, src/cli/kek-rotate.ts): every sealed field rewrapped
 * under TKDB_KEK_NEXT and the check value switched in one transaction, while a service configured
 * with both KEKs keeps serving.
 */
import { join } from "node:path";
import { IdempotencyRecords } from "@tkdb/audit";
import { runCli } from "@tkdb/service";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../src/cli/index.js";
import { idempotencyCrypto } from "../src/crypto.js";
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
let n = 0;
const dbPath = () => join(t.dir, `k${n++}.db`);

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

/** Every sealed root key's blob, by org. */
function sealedKeys(path: string): Map<string, string> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare("SELECT org, sealed_key FROM root_keys").all() as {
      org: string;
      sealed_key: Buffer;
    }[];
    return new Map(rows.map((r) => [r.org, r.sealed_key.toString("hex")]));
  } finally {
    db.close();
  }
}

describe("tkdb kek rotate", () => {
  it("moves every root key and the check value onto TKDB_KEK_NEXT: the database then opens with the new KEK alone, not with the old one", async () => {
    const [a, b] = [newKek(), newKek()];
    const dir = join(t.dir, `cli${n++}`);
    const own = join(dir, "tkdb.db");
    const tokens2 = populate(serviceConfig(own, a), 5);
    const env = { TKDB_DATA_DIR: dir, TKDB_KEK: hex(a), TKDB_KEK_NEXT: hex(b) };
    const ok = await run(["kek", "rotate", "--json"], env);
    expect(ok.code, ok.stderr).toBe(0);
    const out = JSON.parse(ok.stdout) as { from: string; to: string; counts: { rewrapped: number } };
    expect(out.to).toBe(createKeyring({ kek: b }).current);
    expect(out.from).toBe(createKeyring({ kek: a }).current);
    expect(out.counts.rewrapped).toBe(5);
    expect(verifyAll(serviceConfig(own, b), tokens2)).toBe(5);
    expect(() => withService(serviceConfig(own, a), () => 0)).toThrow(
      expect.objectContaining({ code: "wrong_kek" }),
    );
    // the old KEK kept as retired still opens it (restores, rollbacks of the promotion)
    expect(verifyAll(serviceConfig(own, b, { kekRetired: [a] }), tokens2)).toBe(5);
  });

  it("a service configured with both KEKs keeps verifying across the rotation and seals new root keys under the new KEK once it commits", () => {
    const path = dbPath();
    const [a, b] = [newKek(), newKek()];
    const tokens = populate(serviceConfig(path, a), 3);
    const both = serviceConfig(path, a, { kekNext: b });
    withService(both, (svc) => {
      const before = svc.store.transaction(() => svc.orgCreate({ org: "100" }));
      expect(before[0].created).toBe(true);
      expect(
        svc.ring.kidOfUnverified(new Uint8Array(Buffer.from(sealedKeys(path).get("100") ?? "", "hex"))),
      ).toBe(svc.ring.current);
      const other = openDb(path);
      try {
        rotateKek(other.sqlite, createKeyring({ kek: a, kekNext: b }));
      } finally {
        other.close();
      }
      for (const [org, token] of tokens) expect(svc.verify({ header: `FlyV1 ${token}` }).org).toBe(org);
      svc.store.transaction(() => svc.orgCreate({ org: "101" }));
      const blob = new Uint8Array(Buffer.from(sealedKeys(path).get("101") ?? "", "hex"));
      expect(svc.ring.kidOfUnverified(blob)).toBe(svc.ring.next);
    });
    expect(verifyAll(serviceConfig(path, b), tokens)).toBe(3);
  });

  it("a dry run opens every sealed field and writes nothing", () => {
    const path = dbPath();
    const [a, b] = [newKek(), newKek()];
    populate(serviceConfig(path, a), 4);
    const before = sealedKeys(path);
    const opened = openDb(path);
    try {
      const r = rotateKek(opened.sqlite, createKeyring({ kek: a, kekNext: b }), { dryRun: true });
      expect(r.counts.total).toBe(4);
      expect(r.to).toBe(r.from);
    } finally {
      opened.close();
    }
    expect(sealedKeys(path)).toEqual(before);
  });

  it("a sealed field that does not open stops the rotation before anything is written", () => {
    const path = dbPath();
    const [a, b] = [newKek(), newKek()];
    populate(serviceConfig(path, a), 4);
    const db = new Database(path);
    const bad = db.prepare("SELECT sealed_key FROM root_keys WHERE org = '3'").get() as {
      sealed_key: Buffer;
    };
    bad.sealed_key.writeUInt8(
      bad.sealed_key.readUInt8(bad.sealed_key.length - 1) ^ 1,
      bad.sealed_key.length - 1,
    );
    db.prepare("UPDATE root_keys SET sealed_key = ? WHERE org = '3'").run(bad.sealed_key);
    db.close();
    const before = sealedKeys(path);
    const opened = openDb(path);
    try {
      expect(() => rotateKek(opened.sqlite, createKeyring({ kek: a, kekNext: b }))).toThrow(/does not open/);
    } finally {
      opened.close();
    }
    expect(sealedKeys(path)).toEqual(before);
  });

  it("sealed idempotency results are rewrapped under the new KEK, and a retry after the rotation still gets its stored result", () => {
    const path = dbPath();
    const [a, b] = [newKek(), newKek()];
    populate(serviceConfig(path, a), 1);
    const records = (kek: Uint8Array, next?: Uint8Array) => {
      const ring = createKeyring(next === undefined ? { kek } : { kek, kekNext: next });
      return { ring, sealingKid: () => ring.current };
    };
    const opened = openDb(path);
    try {
      const keys = records(a, b);
      const idem = new IdempotencyRecords(opened.sqlite, { crypto: idempotencyCrypto(keys) });
      opened.sqlite.transaction(() => {
        const miss = idem.lookup("client-1", "rid-1", "mint", { org: "1" });
        if (miss.hit) throw new Error("unexpected hit");
        idem.store("client-1", "rid-1", "mint", miss, { token: "T" });
      })();
      const r = rotateKek(opened.sqlite, keys.ring);
      expect(r.counts.rewrapped).toBe(2); // one root key, one result
      const promoted = records(b);
      const sealed = opened.sqlite.prepare("SELECT sealed_result FROM idempotency_records").get() as {
        sealed_result: Buffer;
      };
      expect(promoted.ring.kidOfUnverified(new Uint8Array(sealed.sealed_result))).toBe(promoted.ring.current);
      const during = new IdempotencyRecords(opened.sqlite, { crypto: idempotencyCrypto(keys) });
      expect(during.lookup("client-1", "rid-1", "mint", { org: "1" })).toEqual({
        hit: true,
        result: { token: "T" },
      });
    } finally {
      opened.close();
    }
  });
});
