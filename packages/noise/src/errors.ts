/**
 * The one error tree of @tkdb/noise. Every error carries a stable `code`.
 * Messages never contain key material, plaintext or ciphertext bytes.
 */
export class NoiseError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A caller passed a value of the wrong type, length or shape. */
export class NoiseArgumentError extends NoiseError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid_argument", message, options);
  }
}

/** A handshake message failed (MAC failure, bad length, weak key, wrong order). Fatal for the state. */
export class NoiseHandshakeError extends NoiseError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("handshake_failed", message, options);
  }
}

/** An X25519 public key of small order (the DH output would be all zero). */
export class NoiseInvalidKeyError extends NoiseError {
  constructor(message = "invalid (low-order) public key") {
    super("invalid_key", message);
  }
}

/** AEAD authentication failed. The CipherState nonce is left unchanged. */
export class NoiseDecryptError extends NoiseError {
  constructor(message = "decryption failed") {
    super("decrypt_failed", message);
  }
}

/** The 64-bit nonce reached the reserved value 2^64-1 (Noise §5.1). */
export class NoiseNonceExhaustedError extends NoiseError {
  constructor() {
    super("nonce_exhausted", "nonce 2^64-1 is reserved; the CipherState is exhausted");
  }
}

/** A Noise message would exceed 65535 bytes (Noise §3). */
export class NoiseMessageTooLargeError extends NoiseError {
  constructor(length: number) {
    super("message_too_large", `Noise message of ${length} bytes exceeds 65535`);
  }
}

/** An object was used in a state that does not allow the call (e.g. after a fatal handshake error). */
export class NoiseStateError extends NoiseError {
  constructor(message: string) {
    super("invalid_state", message);
  }
}

/**
 * HTTP/Noise client: the call did not produce an authenticated answer (network failure, timeout,
 * non-200 status, wrong content type, undecryptable or malformed body). Nothing from the server
 * is trusted. `status` is the HTTP status when one was received.
 */
export class NoiseTransportError extends NoiseError {
  readonly status: number | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; status?: number }) {
    super(code, message, options);
    this.status = options?.status;
  }
}

/**
 * HTTP/Noise client: the server answered with an authenticated `ok:false` response. `code` is the
 * code as sent (canonical for tkdb and petsem); `alias` the old name of the same refusal when the
 * server sent one (`bad_token` for an `unauthorized`); `details` the non-secret facts it sent
 * (`current_app_version`, `primary`, …).
 */
export class NoiseRemoteError extends NoiseError {
  readonly rid: string;
  readonly alias: string | undefined;
  readonly details: Readonly<Record<string, string | number | boolean>> | undefined;
  constructor(
    code: string,
    message: string,
    rid: string,
    extras: { alias?: string; details?: Record<string, string | number | boolean> } = {},
  ) {
    super(code, message);
    this.rid = rid;
    this.alias = extras.alias;
    this.details = extras.details === undefined ? undefined : Object.freeze({ ...extras.details });
  }
}
