/**
 * `petsem kek rotate` (src/store/kek-rotation.ts, src/cli/kek-rotate.ts): every key wrapped under
 * the KEK (server key, token signing keys, every app's DEK) rewrapped under PETSEM_KEK_NEXT and
 * the check written in one transaction, while a store configured with both KEKs keeps serving.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { runPetsemCli } from "../src/cli/index.js";
import { openPetsem } from "../src/server.js";
import { createKeyring } from "../src/store/kek.js";
import { rotateKek } from "../src/store/kek-rotation.js";
import { SecretStore } from "../src/store.js";
import { codeOf, hex, newKek, ORG, populate, resolveAll } from "./kek-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "petsem-kek-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(dir, `d${n++}`);
  return { dataDir: d, file: join(d, "petsem.db") };
};

async function run(argv: string[], env: Record<string, string>) {
  let stdout = "";
  let stderr = "";
  const code = await runPetsemCli({
    argv,
    env,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd: dir,
  });
  return { code, stdout, stderr };
}

function wrappedDeks(file: string): Map<string, string> {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare("SELECT app, wrapped_dek FROM apps").all() as {
      app: string;
      wrapped_dek: Buffer;
    }[];
    return new Map(rows.map((r) => [r.app, r.wrapped_dek.toString("hex")]));
  } finally {
    db.close();
  }
}

describe("petsem kek rotate", () => {
  it("moves every wrapped key onto PETSEM_KEK_NEXT: the database then opens with the new KEK alone, not with the old one", async () => {
    const { dataDir, file } = fresh();
    const [a, b] = [newKek(), newKek()];
    const values = populate(file, a, 5);
    const writer = (() => {
      const o = openPetsem({ file, kek: a });
      try {
        return o.authority.mintWriter();
      } finally {
        o.close();
      }
    })();
    const res = await run(["kek", "rotate", "--json"], {
      PETSEM_DATA_DIR: dataDir,
      PETSEM_KEK: hex(a),
      PETSEM_KEK_NEXT: hex(b),
    });
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { to: string; counts: { rewrapped: number } };
    expect(out.to).toBe(createKeyring({ kek: b }).current);
    expect(out.counts.rewrapped).toBe(7); // 5 DEKs, the server key, the token signing key
    expect(resolveAll(file, { kek: b }, values)).toBe(5);
    expect(codeOf(() => SecretStore.open({ file, kek: a }))).toBe("wrong_kek");
    expect(resolveAll(file, { kek: b, kekRetired: [a] }, values)).toBe(5);
    const o = openPetsem({ file, kek: b });
    try {
      expect(o.authority.authorize(`FlyV1 ${writer}`, ["list"], ORG, 1n).actor).toMatch(/^token:/);
    } finally {
      o.close();
    }
  });

  it("a store configured with both KEKs keeps serving across the rotation and wraps new data keys under the new KEK once it commits", () => {
    const { file } = fresh();
    const [a, b] = [newKek(), newKek()];
    const values = populate(file, a, 3);
    const store = SecretStore.open({ file, kek: a, kekNext: b });
    try {
      const other = new Database(file);
      try {
        rotateKek(other, createKeyring({ kek: a, kekNext: b }));
      } finally {
        other.close();
      }
      for (const [app, value] of values)
        expect(store.resolve({ org: ORG, app, minVersion: 1 }).secrets[0]?.value).toBe(value);
      store.set({ org: ORG, app: 99n, values: { NEW: "after-rotation" } });
      const blob = new Uint8Array(Buffer.from(wrappedDeks(file).get("99") ?? "", "hex"));
      expect(store.ring.kidOfUnverified(blob)).toBe(store.ring.next);
    } finally {
      store.close();
    }
    expect(resolveAll(file, { kek: b }, new Map([...values, [99n, "after-rotation"]]))).toBe(4);
  });

  it("sealed idempotency results are rewrapped: after the rotation and the promotion a retry still gets its stored result", () => {
    const { file } = fresh();
    const [a, b] = [newKek(), newKek()];
    const idem = { idempotency: { clientKey: "client-1", rid: "rid-1" } };
    const before = SecretStore.open({ file, kek: a, kekNext: b });
    const first = before.set({ org: ORG, app: 1n, values: { A: "1" } }, idem);
    before.close();
    const db = new Database(file);
    const r = rotateKek(db, createKeyring({ kek: a, kekNext: b }));
    const sealed = db.prepare("SELECT sealed_result FROM idempotency_records").get() as {
      sealed_result: Buffer;
    };
    db.close();
    expect(r.counts.rewrapped).toBe(3); // the DEK, the server key, the result
    expect(createKeyring({ kek: b }).kidOfUnverified(new Uint8Array(sealed.sealed_result))).toBe(r.to);
    const promoted = SecretStore.open({ file, kek: b, kekRetired: [a] });
    try {
      expect(promoted.set({ org: ORG, app: 1n, values: { A: "1" } }, idem)).toEqual(first);
      expect(promoted.appVersion(ORG, 1n)).toBe(1);
    } finally {
      promoted.close();
    }
  });

  it("a wrapped key that does not open stops the rotation before anything is written", () => {
    const { file } = fresh();
    const [a, b] = [newKek(), newKek()];
    populate(file, a, 3);
    const db = new Database(file);
    const row = db.prepare("SELECT wrapped_dek FROM apps WHERE app = '2'").get() as { wrapped_dek: Buffer };
    row.wrapped_dek.writeUInt8(
      row.wrapped_dek.readUInt8(row.wrapped_dek.length - 1) ^ 1,
      row.wrapped_dek.length - 1,
    );
    db.prepare("UPDATE apps SET wrapped_dek = ? WHERE app = '2'").run(row.wrapped_dek);
    const before = wrappedDeks(file);
    expect(() => rotateKek(db, createKeyring({ kek: a, kekNext: b }))).toThrow(/does not open/);
    db.close();
    expect(wrappedDeks(file)).toEqual(before);
  });
});
