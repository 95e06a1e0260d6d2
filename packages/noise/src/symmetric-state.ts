/** Noise §5.2: the SymmetricState object, and HKDF (§4.3). */
import { EMPTY } from "./bytes.js";
import { CipherState } from "./cipher-state.js";
import type { HashName, NoiseCrypto } from "./crypto.js";

export const HASHLEN = 32;

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** §4.3 HKDF(chaining_key, input_key_material, num_outputs) with HMAC-HASH. */
export function hkdf(
  crypto: NoiseCrypto,
  alg: HashName,
  ck: Uint8Array,
  ikm: Uint8Array,
  outputs: 2 | 3,
): Uint8Array[] {
  const tempKey = crypto.hmac(alg, ck, ikm);
  const o1 = crypto.hmac(alg, tempKey, ONE);
  const o2 = crypto.hmac(alg, tempKey, o1, TWO);
  if (outputs === 2) return [o1, o2];
  return [o1, o2, crypto.hmac(alg, tempKey, o2, THREE)];
}

export class SymmetricState {
  readonly cipher: CipherState;
  #ck: Uint8Array;
  #h: Uint8Array;
  readonly #crypto: NoiseCrypto;
  readonly #alg: HashName;

  /** InitializeSymmetric(protocol_name). */
  constructor(crypto: NoiseCrypto, alg: HashName, protocolName: Uint8Array) {
    this.#crypto = crypto;
    this.#alg = alg;
    // "If protocol_name is less than or equal to HASHLEN bytes in length, sets h equal to
    // protocol_name with zero bytes appended to make HASHLEN bytes. Otherwise sets h = HASH(protocol_name)."
    if (protocolName.length <= HASHLEN) {
      this.#h = new Uint8Array(HASHLEN);
      this.#h.set(protocolName);
    } else {
      this.#h = crypto.hash(alg, protocolName);
    }
    this.#ck = this.#h;
    this.cipher = new CipherState(crypto);
  }

  /** MixKey(input_key_material). */
  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf(this.#crypto, this.#alg, this.#ck, ikm, 2) as [Uint8Array, Uint8Array];
    this.#ck = ck;
    this.cipher.initializeKey(tempK.subarray(0, 32));
  }

  /** MixHash(data): h = HASH(h || data). */
  mixHash(data: Uint8Array): void {
    this.#h = this.#crypto.hash(this.#alg, this.#h, data);
  }

  /** MixKeyAndHash(input_key_material), used for psk tokens. */
  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf(this.#crypto, this.#alg, this.#ck, ikm, 3) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    this.#ck = ck;
    this.mixHash(tempH);
    this.cipher.initializeKey(tempK.subarray(0, 32));
  }

  /** GetHandshakeHash(). */
  getHandshakeHash(): Uint8Array {
    return Uint8Array.from(this.#h);
  }

  /** EncryptAndHash(plaintext): AD = h, then MixHash(ciphertext). */
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ct = this.cipher.encryptWithAd(this.#h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  /** DecryptAndHash(ciphertext): AD = h, then MixHash(ciphertext). */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const pt = this.cipher.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  /** Split(): (c1, c2) from HKDF(ck, zerolen, 2); c1 is initiator→responder. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.#crypto, this.#alg, this.#ck, EMPTY, 2) as [Uint8Array, Uint8Array];
    return [
      new CipherState(this.#crypto, k1.subarray(0, 32)),
      new CipherState(this.#crypto, k2.subarray(0, 32)),
    ];
  }
}
