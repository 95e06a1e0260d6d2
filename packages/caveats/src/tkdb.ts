/**
 * tkdb's attestations: facts tkdb states in the discharges it issues (its `discharge` RPC), so the
 * service that receives the discharge (petsem) can tell *which* token released a read.
 *
 * - `UserTokenNonce` {nonce}: the nonce of the user's permission token the discharge was issued
 *   for (beside the `FlyioUserID` attestation tkdb copies from the trusted auth discharge).
 * - `ServiceTokenNonce` {nonce, org}: for a stripped service token (no user behind it any more),
 *   the service token's own nonce and the organization whose key it is under.
 *
 * `nonce` is the nonce's msgpack encoding (`[kid, rnd, proof]` or v0 `[kid, rnd]`), the same bytes
 * tkdb's blacklist and revocation feed use (the feed's "nonceId" is their padded base64), so a
 * receiver can match an attestation against revocations directly. A nonce is an identifier, not a
 * secret (it is public in the revocation feed); it never lets anyone mint or extend a token.
 *
 * Type numbers: the user-defined range (`1<<48 … 1<<64-2`), in a small block of our own,
 * `BlockTkdbMin = 1<<48 | 0x746b6400` ("tkd\0") … `BlockTkdbMax = 1<<48 | 0x746b64ff`.
 * - Not below 1<<32: those numbers are Fly's (even petsem's block is Fly's numbering of petsem's
 *   types); tkdb's own attestation is not one of Fly's types.
 * - Not the registerable range (1<<32 … 1<<48-1): those are assigned by a pull request to
 *   superfly/macaroon; a number we picked there unregistered could later be given to someone else.
 * - User-defined is Go's range "for private purposes": exactly this one (only tkdb writes these,
 *   only our services read them). The block stays clear of 1<<48 + 0…255, which Fly's generated
 *   test vectors use for their test-only types.
 *
 * Both are attestations (`isAttestation`): `validateCaveats` skips them (so nobody can rely on one
 * for authorization), `Macaroon.add` refuses them on a non-proof token, tkdb's `mint` refuses them,
 * and `verify` keeps them only from discharges of trusted third parties. Asked directly to judge an
 * access, they refuse (fail closed), like Fly's `FlyioUserID`.
 *
 * A Go peer without these registrations decodes them as unregistered caveats (which prohibit); only
 * petsem, which registers them, consumes tkdb's discharges.
 */
import {
  base64Decode,
  base64Encode,
  bytesEqual,
  type Caveat,
  CaveatError,
  jsonObject,
  jsonString,
  type MacaroonError,
  MacaroonError as MacaroonErrorClass,
  MsgpackReader,
  type MsgpackWriter,
  Nonce,
} from "@tkdb/macaroon";
import { defineCodec, expectArray, u64JSON } from "./codec.js";
import { BAD_CAVEAT, deny } from "./errors.js";

export const BlockTkdbMin = (1n << 48n) | 0x746b6400n;
export const BlockTkdbMax = (1n << 48n) | 0x746b64ffn;
export const CavUserTokenNonce = BlockTkdbMin + 1n;
export const CavServiceTokenNonce = BlockTkdbMin + 2n;

/** The largest nonce encoding accepted (kid ≤ 64 bytes, rnd ≤ 64 bytes, framing): a bound on input. */
const MAX_NONCE_BYTES = 160;

/**
 * Checks that `b` is exactly one canonical msgpack-encoded permission-token nonce (not a proof's).
 * Throws CaveatError (`bad_caveat`).
 */
export function checkNonceBytes(b: Uint8Array, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length === 0 || b.length > MAX_NONCE_BYTES)
    throw new CaveatError("bad_caveat", `${what}: expected an encoded nonce`);
  let n: Nonce;
  try {
    const r = new MsgpackReader(b);
    n = Nonce.read(r);
    if (r.remaining !== 0) throw new CaveatError("bad_caveat", `${what}: trailing bytes after nonce`);
  } catch (e) {
    if (e instanceof CaveatError) throw e;
    if (e instanceof MacaroonErrorClass) throw new CaveatError("bad_caveat", `${what}: not an encoded nonce`);
    throw e;
  }
  if (n.proof) throw new CaveatError("bad_caveat", `${what}: a discharge's nonce, not a token's`);
  if (!bytesEqual(n.encode(), b))
    throw new CaveatError("bad_caveat", `${what}: non-canonical nonce encoding`);
  return b.slice();
}

const num = (v: bigint): number | bigint => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

function nonceJSON(v: unknown, what: string): Uint8Array {
  const s = jsonString(v, what);
  let b: Uint8Array;
  try {
    b = base64Decode(s, what);
  } catch {
    throw new CaveatError("bad_caveat_json", `${what}: invalid base64`);
  }
  try {
    return checkNonceBytes(b, what);
  } catch (e) {
    if (e instanceof CaveatError) throw new CaveatError("bad_caveat_json", e.message);
    throw e;
  }
}

abstract class TkdbAttestation implements Caveat {
  abstract readonly type: bigint;
  readonly isAttestation = true;
  abstract encodeBody(w: MsgpackWriter): void;
  abstract bodyJSON(): unknown;
  /** Attestations state facts; validation skips them. Asked directly, they refuse (fail closed). */
  prohibits(): MacaroonError | undefined {
    return deny(BAD_CAVEAT, this.type, "attestations do not authorize");
  }
}

/**
 * The user token's nonce (attestation). msgpack `[bin nonce]`; JSON `{"nonce": "<base64>"}` (the
 * padded standard base64 of the encoded nonce: tkdb's nonceId).
 */
export class UserTokenNonce extends TkdbAttestation {
  readonly type = CavUserTokenNonce;
  readonly nonce: Uint8Array;
  constructor(nonce: Uint8Array) {
    super();
    this.nonce = checkNonceBytes(nonce, "UserTokenNonce.nonce");
  }
  /** tkdb's nonceId of the user token. */
  get nonceId(): string {
    return base64Encode(this.nonce);
  }
  encodeBody(w: MsgpackWriter): void {
    w.array(1).bin(this.nonce);
  }
  bodyJSON(): unknown {
    return { nonce: this.nonceId };
  }
}

/**
 * A stripped service token's nonce and organization (attestation), in place of a user's identity.
 * msgpack `[bin nonce, uint org]`; JSON `{"nonce": "<base64>", "org": n}`; org > 0.
 */
export class ServiceTokenNonce extends TkdbAttestation {
  readonly type = CavServiceTokenNonce;
  readonly nonce: Uint8Array;
  constructor(
    nonce: Uint8Array,
    readonly org: bigint,
  ) {
    super();
    this.nonce = checkNonceBytes(nonce, "ServiceTokenNonce.nonce");
    if (typeof org !== "bigint" || org <= 0n || org >= 1n << 64n)
      throw new CaveatError("bad_caveat", "ServiceTokenNonce.org must be a positive uint64");
  }
  get nonceId(): string {
    return base64Encode(this.nonce);
  }
  encodeBody(w: MsgpackWriter): void {
    w.array(2).bin(this.nonce).uint(this.org);
  }
  bodyJSON(): unknown {
    return { nonce: this.nonceId, org: num(this.org) };
  }
}

export const tkdbCodecs = [
  defineCodec(
    CavUserTokenNonce,
    "UserTokenNonce",
    (r) => {
      expectArray(r, 1, "UserTokenNonce");
      return new UserTokenNonce(r.bin());
    },
    (b) => new UserTokenNonce(nonceJSON(jsonObject(b, "UserTokenNonce").nonce, "UserTokenNonce.nonce")),
    { isAttestation: true },
  ),
  defineCodec(
    CavServiceTokenNonce,
    "ServiceTokenNonce",
    (r) => {
      expectArray(r, 2, "ServiceTokenNonce");
      const nonce = r.bin();
      return new ServiceTokenNonce(nonce, r.uint());
    },
    (b) => {
      const o = jsonObject(b, "ServiceTokenNonce");
      const nonce = nonceJSON(o.nonce, "ServiceTokenNonce.nonce");
      const org = u64JSON(o.org, "ServiceTokenNonce.org");
      if (org === 0n) throw new CaveatError("bad_caveat_json", "ServiceTokenNonce.org must be positive");
      return new ServiceTokenNonce(nonce, org);
    },
    { isAttestation: true },
  ),
];

/** The (first) UserTokenNonce of a verified caveat set, if any. */
export function getUserTokenNonce(cavs: readonly Caveat[]): UserTokenNonce | undefined {
  for (const c of cavs) if (c instanceof UserTokenNonce) return c;
  return undefined;
}

/** The (first) ServiceTokenNonce of a verified caveat set, if any. */
export function getServiceTokenNonce(cavs: readonly Caveat[]): ServiceTokenNonce | undefined {
  for (const c of cavs) if (c instanceof ServiceTokenNonce) return c;
  return undefined;
}
