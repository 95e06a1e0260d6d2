import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SecretStore } from "../src/store.js";
import { APP, BACKENDS, freshStore, ORG } from "./helpers.js";

function encodings(marker: string): string[] {
  const b = Buffer.from(marker, "utf8");
  return [
    marker,
    b.toString("hex"),
    b.toString("base64"),
    b.toString("base64url"),
    b.toString("hex").toUpperCase(),
  ];
}

function filesOf(file: string): Buffer[] {
  return [file, `${file}-wal`, `${file}-shm`].filter(existsSync).map((f) => readFileSync(f));
}

describe.each(BACKENDS)("P1: no plaintext at rest (%s)", (backend) => {
  it("random markers written as values never appear in the DB file or WAL, in any common encoding", () => {
    const { store, file, kek } = freshStore(backend);
    const markers = Array.from({ length: 20 }, () => randomBytes(32).toString("base64url"));
    const values = Object.fromEntries(markers.map((m, i) => [`SECRET_${i}`, m]));
    store.set(
      { org: ORG, app: APP, values },
      { requestId: "w1", idempotency: { clientKey: "c", rid: "r1" } },
    );
    store.set({ org: ORG, app: APP, values: { SECRET_0: markers[1] as string } });
    store.rollback({ org: ORG, app: APP, name: "SECRET_0", toVersion: 1 });
    store.unset({ org: ORG, app: APP, names: ["SECRET_2"] });
    expect(store.resolve({ org: ORG, app: APP, minVersion: 4 }).secrets.length).toBe(19);
    const check = () => {
      const blobs = filesOf(file);
      expect(blobs.length).toBeGreaterThan(0);
      for (const m of markers) {
        for (const enc of encodings(m)) {
          for (const blob of blobs) expect(blob.includes(Buffer.from(enc, "latin1"))).toBe(false);
        }
      }
    };
    check(); // WAL still holds the recent pages
    store.close();
    const reopened = SecretStore.open({ file, kek, backend });
    reopened.close();
    const raw = new Database(file);
    raw.pragma("wal_checkpoint(TRUNCATE)");
    raw.close();
    check(); // and after a checkpoint into the main file
  });

  it("P25: a backup holds no plaintext and opens only with the KEK", () => {
    const { store, file, kek } = freshStore(backend);
    const marker = randomBytes(32).toString("hex");
    store.set({ org: ORG, app: APP, values: { BACKED_UP: marker } });
    const backup = `${file}.backup`;
    const raw = new Database(file);
    raw.prepare("VACUUM INTO ?").run(backup);
    raw.close();
    const bytes = readFileSync(backup);
    for (const enc of encodings(marker)) expect(bytes.includes(Buffer.from(enc, "latin1"))).toBe(false);
    expect(() => SecretStore.open({ file: backup, kek: randomBytes(32), backend })).toThrow(
      /key-encryption key/,
    );
    const restored = SecretStore.open({ file: backup, kek, backend });
    try {
      expect(restored.resolve({ org: ORG, app: APP, minVersion: 1 }).secrets[0]?.value).toBe(marker);
    } finally {
      restored.close();
    }
  });
});
