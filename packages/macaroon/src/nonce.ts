/**
 * Nonce (superfly/macaroon `nonce.go`): `[KID bin, Rnd bin, Proof bool]` (v1)
 * or `[KID bin, Rnd bin]` (v0). The version read is remembered: the nonce's
 * encoding is the first HMAC input, so re-encoding must reproduce it.
 */
import { type CryptoBackend, defaultBackend, uuidV5 } from "./crypto.js";
import { hexDecode, hexEncode } from "./encoding.js";
import { MsgpackError } from "./errors.js";
import { type MsgpackReader, MsgpackWriter } from "./msgpack.js";

export const NONCE_RND_SIZE = 16;

/** Go `kidNamespace`: 968fc2c6-a94f-4988-a544-2ad72b02f222. */
const KID_NAMESPACE = hexDecode("968fc2c6a94f4988a5442ad72b02f222");

export class Nonce {
  constructor(
    /** Key ID: opaque to this library; the authority maps it to a root key. For discharges it is the ticket. */
    readonly kid: Uint8Array,
    readonly rnd: Uint8Array,
    /** True for proofs (discharges), whose tails are finalized. */
    readonly proof: boolean,
    /** 0: `[kid, rnd]`; 1: `[kid, rnd, proof]`. New nonces are always v1. */
    readonly version: 0 | 1 = 1,
  ) {
    if (version === 0 && proof) throw new MsgpackError("msgpack_malformed", "v0 nonce cannot be a proof", 0);
  }

  private encoded: Uint8Array | undefined;

  /** msgpack of this nonce: the first HMAC input. */
  encode(): Uint8Array {
    if (this.encoded === undefined) {
      const w = new MsgpackWriter(this.kid.length + this.rnd.length + 16);
      this.write(w);
      this.encoded = w.finish();
    }
    return this.encoded;
  }

  static create(kid: Uint8Array, proof: boolean, backend: CryptoBackend = defaultBackend): Nonce {
    return new Nonce(kid.slice(), backend.randomBytes(NONCE_RND_SIZE), proof, 1);
  }

  write(w: MsgpackWriter): void {
    if (this.version === 0) {
      w.array(2).bin(this.kid).bin(this.rnd);
    } else {
      w.array(3).bin(this.kid).bin(this.rnd).bool(this.proof);
    }
  }

  static read(r: MsgpackReader): Nonce {
    const at = r.offset;
    const n = r.array();
    if (n !== 2 && n !== 3)
      throw new MsgpackError("msgpack_malformed", `unknown nonce format: ${n} fields`, at);
    const kid = r.bin();
    const rnd = r.bin();
    if (n === 2) return new Nonce(kid, rnd, false, 0);
    return new Nonce(kid, rnd, r.bool(), 1);
  }

  /** Go `Nonce.UUID()`: uuidv5(uuidv5(kidNamespace, KID), Rnd). Public identifier for logs and revocation. */
  uuid(backend: CryptoBackend = defaultBackend): string {
    return formatUUID(uuidV5(backend, uuidV5(backend, KID_NAMESPACE, this.kid), this.rnd));
  }
}

export function formatUUID(b: Uint8Array): string {
  const h = hexEncode(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Go `Nonce.UUID()` of a token's nonce, as a string (public; used in logs and revocation). */
export function nonceUUID(nonce: Nonce, backend: CryptoBackend = defaultBackend): string {
  return nonce.uuid(backend);
}
