/** Shared by the kek-*.test.ts files: a petsem database with secrets, read back with a given keyring. */
import { randomBytes } from "node:crypto";
import { isPetsemError } from "../src/errors.js";
import { SecretStore, type SecretStoreOptions } from "../src/store.js";

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
export const newKek = () => new Uint8Array(randomBytes(32));
export const ORG = 7n;

/** Writes one secret in each of `apps` apps (app ids 1..apps); returns the values by app. */
export function populate(file: string, kek: Uint8Array, apps: number): Map<bigint, string> {
  const store = SecretStore.open({ file, kek });
  try {
    const out = new Map<bigint, string>();
    for (let i = 1; i <= apps; i++) {
      const app = BigInt(i);
      const value = `value-${i}-${randomBytes(8).toString("hex")}`;
      store.set({ org: ORG, app, values: { SECRET: value } });
      out.set(app, value);
    }
    return out;
  } finally {
    store.close();
  }
}

/** Opens the store with `keys` and resolves every app; the number read back intact. */
export function resolveAll(
  file: string,
  keys: Omit<SecretStoreOptions, "file">,
  values: Map<bigint, string>,
): number {
  const store = SecretStore.open({ file, ...keys });
  try {
    let n = 0;
    for (const [app, value] of values) {
      const got = store.resolve({ org: ORG, app, minVersion: 1 }).secrets;
      if (got.length !== 1 || got[0]?.value !== value) throw new Error(`app ${app} read back wrong`);
      n++;
    }
    return n;
  } finally {
    store.close();
  }
}

/** The error code of `fn`, which must throw a PetsemError. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isPetsemError(e)) return e.code;
    throw e;
  }
  throw new Error("expected a PetsemError");
}
