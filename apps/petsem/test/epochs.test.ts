/**
 * Epochs (src/store/epochs.ts, issue 14 item 2): app versions are (epoch, version) pairs; a restore
 * mints a new epoch, so a version number lost with the old primary and reissued after the restore
 * never passes for the lost one.
 */
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isPetsemError } from "../src/errors.js";
import { SecretStore } from "../src/store.js";
import { APP, newKek, ORG, tempDir } from "./helpers.js";

function caught(fn: () => unknown): { code: string; details: unknown; message: string } {
  try {
    fn();
  } catch (e) {
    if (isPetsemError(e)) return { code: e.code, details: e.details, message: e.message };
    throw e;
  }
  throw new Error("expected a refusal");
}

/** A database, a backup of it after v1, then v2 written and lost: the backup restored, v2 rewritten. */
function restoredAfterLoss() {
  const dir = tempDir();
  const [file, backup] = [join(dir, "petsem.db"), join(dir, "backup.db")];
  const kek = newKek();
  let store = SecretStore.open({ file, kek });
  const v1 = store.set({ org: ORG, app: APP, values: { A: "one" } });
  const other = store.set({ org: ORG, app: 43n, values: { B: "b-one" } });
  store.close();
  copyFileSync(file, backup);
  store = SecretStore.open({ file, kek });
  const lost = store.set({ org: ORG, app: APP, values: { A: "two-lost" } });
  store.close();
  // the primary is gone; the backup is restored (restoreBackup mints the epoch the same way)
  copyFileSync(backup, file);
  store = SecretStore.open({ file, kek });
  const epoch = store.mintEpoch("restore");
  const again = store.set({ org: ORG, app: APP, values: { A: "two-new" } });
  return { store, v1, other, lost, epoch, again };
}

describe("epochs", () => {
  it("every write, list and resolve names the epoch; it is stable until a restore or promotion mints a new one", () => {
    const dir = tempDir();
    const store = SecretStore.open({ file: join(dir, "p.db"), kek: newKek() });
    try {
      const e0 = store.epoch();
      expect(e0).toMatch(/^[0-9a-f]{16}$/);
      expect(store.set({ org: ORG, app: APP, values: { A: "1" } }).epoch).toBe(e0);
      expect(store.list({ org: ORG, app: APP }).epoch).toBe(e0);
      expect(store.resolve({ org: ORG, app: APP, minVersion: 1 }).epoch).toBe(e0);
      const e1 = store.mintEpoch("promotion");
      expect(e1).not.toBe(e0);
      expect(store.epoch()).toBe(e1);
      expect(store.set({ org: ORG, app: APP, values: { A: "2" } }).epoch).toBe(e1);
    } finally {
      store.close();
    }
  });

  it("after a restore, the reissued version number is distinguishable and the lost (epoch, version) is refused with stale, never answered with the other contents", () => {
    const { store, v1, lost, epoch, again } = restoredAfterLoss();
    try {
      expect(again.app_version).toBe(lost.app_version);
      expect(again.epoch).toBe(epoch);
      expect(again.epoch).not.toBe(lost.epoch);
      const e = caught(() =>
        store.resolve({ org: ORG, app: APP, minVersion: lost.app_version, minEpoch: lost.epoch }),
      );
      expect(e.code).toBe("stale");
      expect(e.details).toMatchObject({ lost: true, epoch, app_version: 2, min_version: 2 });
      expect(JSON.stringify(e)).not.toContain("two-");
      expect(caught(() => store.list({ org: ORG, app: APP, minVersion: 2, minEpoch: lost.epoch })).code).toBe(
        "stale",
      );
      // a version the restore kept is still satisfied from the old epoch; the new pair as usual
      expect(
        store.resolve({ org: ORG, app: APP, minVersion: v1.app_version, minEpoch: v1.epoch }).secrets[0]
          ?.value,
      ).toBe("two-new");
      expect(
        store.resolve({ org: ORG, app: APP, minVersion: again.app_version, minEpoch: again.epoch }).secrets[0]
          ?.value,
      ).toBe("two-new");
    } finally {
      store.close();
    }
  });

  it("an epoch this database never had is stale (not yet replicated here, or a lost branch); a malformed one is invalid_request", () => {
    const { store } = restoredAfterLoss();
    try {
      const e = caught(() =>
        store.resolve({ org: ORG, app: APP, minVersion: 1, minEpoch: "00112233445566ff" }),
      );
      expect(e.code).toBe("stale");
      expect(e.details).not.toHaveProperty("lost");
      expect(caught(() => store.resolve({ org: ORG, app: APP, minVersion: 1, minEpoch: "x" })).code).toBe(
        "invalid_request",
      );
    } finally {
      store.close();
    }
  });

  it("an app not written since the restore keeps every version it had at the restore point", () => {
    const { store, other } = restoredAfterLoss();
    try {
      const app = { org: ORG, app: 43n };
      expect(store.resolve({ ...app, minVersion: 1, minEpoch: other.epoch }).secrets[0]?.value).toBe("b-one");
      expect(
        caught(() => store.resolve({ ...app, minVersion: 2, minEpoch: other.epoch })).details,
      ).toMatchObject({
        lost: true,
      });
    } finally {
      store.close();
    }
  });
});
