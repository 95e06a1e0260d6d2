/**
 * Errors of the keyring: a `ServiceError` (the package's one error tree, errors.ts) with one of
 * four codes. Messages are fixed text and key ids, never a key, a plaintext or a blob.
 */
import { ServiceError } from "./errors.js";

export type KeyringErrorCode =
  /** a KEK is malformed or given twice (startup only) */
  | "config"
  /** no configured KEK opens this (the database or a blob was made under another KEK) */
  | "wrong_kek"
  /** a sealed blob or fingerprint failed authentication: changed bytes, or moved to another row */
  | "integrity"
  /** a caller passed a malformed binding, purpose or argument */
  | "invalid_request";

export class KeyringError extends ServiceError {
  declare readonly code: KeyringErrorCode;

  constructor(code: KeyringErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
  }
}

export function isKeyringError(e: unknown, code?: KeyringErrorCode): e is KeyringError {
  return e instanceof KeyringError && (code === undefined || e.code === code);
}
