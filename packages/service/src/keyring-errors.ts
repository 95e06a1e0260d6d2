/**
 * Errors of the keyring. Codes use petsem's vocabulary (`config`, `wrong_kek`, `integrity`,
 * `invalid_request`); messages are fixed text and key ids, never a key, a plaintext or a blob.
 */
export type KeyringErrorCode =
  /** a KEK is missing, malformed or given twice (startup only) */
  | "config"
  /** no configured KEK opens this (the database or a blob was made under another KEK) */
  | "wrong_kek"
  /** a sealed blob or fingerprint failed authentication: changed bytes, or moved to another row */
  | "integrity"
  /** a caller passed a malformed binding, purpose or argument */
  | "invalid_request";

export class KeyringError extends Error {
  override readonly name: string = new.target.name;
  readonly code: KeyringErrorCode;

  constructor(code: KeyringErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isKeyringError(e: unknown, code?: KeyringErrorCode): e is KeyringError {
  return e instanceof KeyringError && (code === undefined || e.code === code);
}
