/** Noise §5.1: the CipherState object. */
import type { NoiseCrypto } from "./crypto.js";
import {
  NoiseArgumentError,
  NoiseMessageTooLargeError,
  NoiseNonceExhaustedError,
  NoiseStateError,
} from "./errors.js";

/** Noise §3: every Noise message is at most 65535 bytes. */
export const MAX_MESSAGE_LENGTH = 65535;
export const TAG_LENGTH = 16;
/** §5.1: the nonce value 2^64-1 is reserved and never used to encrypt or decrypt. */
export const NONCE_MAX = 0xffff_ffff_ffff_ffffn;

const ZEROS32 = new Uint8Array(32);

export class CipherState {
  #k: Uint8Array | null = null;
  #n = 0n;
  #destroyed = false;
  readonly #crypto: NoiseCrypto;

  constructor(crypto: NoiseCrypto, key?: Uint8Array) {
    this.#crypto = crypto;
    if (key !== undefined) this.initializeKey(key);
  }

  /** InitializeKey(key): sets k and resets n to 0. */
  initializeKey(key: Uint8Array | null): void {
    if (this.#destroyed) throw new NoiseStateError("CipherState destroyed");
    if (key !== null && (!(key instanceof Uint8Array) || key.length !== 32)) {
      throw new NoiseArgumentError("cipher key must be 32 bytes");
    }
    this.#k = key === null ? null : Uint8Array.from(key);
    this.#n = 0n;
  }

  hasKey(): boolean {
    return this.#k !== null;
  }

  /** The next nonce this state will use. */
  get nonce(): bigint {
    return this.#n;
  }

  /** SetNonce(nonce) (§5.1), for out-of-order transports and tests. */
  setNonce(n: bigint): void {
    if (typeof n !== "bigint" || n < 0n || n > NONCE_MAX)
      throw new NoiseArgumentError("nonce must be a u64 bigint");
    this.#n = n;
  }

  /** EncryptWithAd(ad, plaintext): passes plaintext through when there is no key. */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.#destroyed) throw new NoiseStateError("CipherState destroyed");
    if (this.#k === null) return Uint8Array.from(plaintext);
    if (plaintext.length + TAG_LENGTH > MAX_MESSAGE_LENGTH) {
      throw new NoiseMessageTooLargeError(plaintext.length + TAG_LENGTH);
    }
    if (this.#n >= NONCE_MAX) throw new NoiseNonceExhaustedError();
    const out = this.#crypto.encrypt(this.#k, this.#n, ad, plaintext);
    this.#n += 1n;
    return out;
  }

  /** DecryptWithAd(ad, ciphertext): on failure throws and leaves n unchanged (§5.1). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.#destroyed) throw new NoiseStateError("CipherState destroyed");
    if (this.#k === null) return Uint8Array.from(ciphertext);
    if (ciphertext.length > MAX_MESSAGE_LENGTH) throw new NoiseMessageTooLargeError(ciphertext.length);
    if (this.#n >= NONCE_MAX) throw new NoiseNonceExhaustedError();
    const out = this.#crypto.decrypt(this.#k, this.#n, ad, ciphertext);
    this.#n += 1n;
    return out;
  }

  /**
   * Not in the spec: overwrite the key with zeros and drop it, so a closed session's key does not
   * linger in memory. Every later encrypt or decrypt throws NoiseStateError.
   */
  destroy(): void {
    this.#k?.fill(0);
    this.#k = null;
    this.#destroyed = true;
  }

  /** Rekey() (§4.2, §11.3): k = ENCRYPT(k, 2^64-1, empty, zeros)[0:32]; n is not reset. */
  rekey(): void {
    if (this.#k === null) throw new NoiseStateError("rekey without a key");
    this.#k = this.#crypto.encrypt(this.#k, NONCE_MAX, new Uint8Array(0), ZEROS32).slice(0, 32);
  }
}
