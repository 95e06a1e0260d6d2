/**
 * Secret values, sealed under their app's data key (DEK) with the shared keyring format: a
 * keyring built from the DEK (app-keys.ts), purpose `secret-value`, bound to (org, app, name,
 * version), so a value moved to another row does not open. Values written at bea118d (petsem's
 * own AES-256-GCM format, first byte 0x01) still open; new versions (sets and rollbacks) are
 * sealed in the shared format. A KEK rotation never touches values: only the DEK's wrap changes.
 */
import { isKeyringError } from "@tkdb/service";
import { valueAad } from "../crypto.js";
import { PetsemError } from "../errors.js";
import type { AppKeys } from "./app-keys.js";
import type { StoreCore } from "./core.js";

const SHARED_FORMAT = 0x02;

function at(org: string, app: string, name: string, version: number) {
  return { table: "secret_versions", column: "sealed", row: [org, app, name, version] };
}

export function sealValue(
  keys: AppKeys,
  org: string,
  app: string,
  name: string,
  version: number,
  plain: Uint8Array,
): Uint8Array {
  return keys.values.seal("secret-value", plain, at(org, app, name, version));
}

/** Opens a stored value; any changed byte or moved row is `integrity`, never partial plaintext. */
export function openValue(
  core: Pick<StoreCore, "crypto">,
  keys: AppKeys,
  org: string,
  app: string,
  name: string,
  version: number,
  sealed: Uint8Array,
): Uint8Array {
  if (sealed[0] !== SHARED_FORMAT)
    return core.crypto.openValue(keys.dek, keys.kid, valueAad(org, app, name, version), sealed);
  try {
    return keys.values.open("secret-value", sealed, at(org, app, name, version));
  } catch (cause) {
    if (!isKeyringError(cause)) throw cause;
    throw new PetsemError("integrity", "stored value failed authentication", { cause });
  }
}
