import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import type { BackendName } from "../src/crypto.js";
import { SecretStore, type SecretStoreOptions } from "../src/store.js";

export const BACKENDS: BackendName[] = ["native", "noble"];

export function newKek(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/** A temp folder removed after the current test (call inside a test). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "petsem-test-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a store in a fresh temp folder; it is closed and removed after the test. */
export function freshStore(
  backend: BackendName,
  extra: Partial<SecretStoreOptions> = {},
): { store: SecretStore; file: string; kek: Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), "petsem-test-"));
  const file = join(dir, "petsem.db");
  const kek = extra.kek ?? newKek();
  const store = SecretStore.open({ file, kek, backend, ...extra });
  onTestFinished(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, file, kek };
}

export const ORG = 7n;
export const APP = 42n;
