/**
 * The client's only cryptographic code: continuing a verified token's HMAC chain (reference
 * §3: tail_{i+1} = HMAC-SHA256(tail_i, packed caveat_i)) and fingerprinting discharge sets.
 * It calls @tkdb/macaroon's primitives interface and imports no crypto library itself.
 */
import {
  CAV_3P,
  CAV_BIND_TO_PARENT,
  type Caveat,
  type CryptoBackend,
  hexEncode,
  type Macaroon,
  packCaveat,
} from "@tkdb/macaroon";

/** What the cache keeps of a token the authority verified. The tail is secret: never log it. */
export interface VerifiedAncestor {
  readonly packed: readonly Uint8Array[];
  readonly tail: Uint8Array;
}

/** The MAC'd bytes of each caveat: decoding refused non-canonical input, so these are the wire bytes. */
function packedOf(token: Macaroon): Uint8Array[] {
  return token.unsafeCaveats.map(packCaveat);
}

export function ancestorOf(token: Macaroon): VerifiedAncestor {
  return { packed: packedOf(token), tail: token.unsafeTail() };
}

/**
 * If `token` is `ancestor` with only first-party caveats appended (as attenuate-on-use produces),
 * returns the appended caveats; otherwise undefined. Appended third-party or binding caveats need
 * discharges checked by the authority, so they are not verified here.
 */
export function appendedCaveats(
  token: Macaroon,
  ancestor: VerifiedAncestor,
  backend: CryptoBackend,
): Caveat[] | undefined {
  if (token.isProof) return undefined;
  const packed = packedOf(token);
  const tail = token.unsafeTail();
  const n = ancestor.packed.length;
  if (packed.length < n) return undefined;
  for (let i = 0; i < n; i++) {
    const a = packed[i] as Uint8Array;
    const b = ancestor.packed[i] as Uint8Array;
    if (a.length !== b.length) return undefined;
    for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return undefined;
  }
  const extra = token.unsafeCaveats.slice(n);
  for (const c of extra) if (c.type === CAV_3P || c.type === CAV_BIND_TO_PARENT) return undefined;
  let mac = ancestor.tail;
  for (let i = n; i < packed.length; i++) mac = backend.hmacSha256(mac, packed[i] as Uint8Array);
  return backend.timingSafeEqual(mac, tail) ? extra : undefined;
}

/** Order-independent fingerprint of a discharge set (public data), to key cache entries. */
export function dischargeSetKey(discharges: readonly Uint8Array[], backend: CryptoBackend): string {
  if (discharges.length === 0) return "";
  return discharges
    .map((d) => hexEncode(backend.sha256(d)))
    .sort()
    .join(",");
}
