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
  UnregisteredCaveat,
} from "@tkdb/macaroon";

/** What the cache keeps of a token the authority verified. The tail is secret: never log it. */
export interface VerifiedAncestor {
  readonly packed: readonly Uint8Array[];
  readonly tail: Uint8Array;
  /**
   * How many of the authority's verified caveats come from this token itself: its caveats other
   * than 3P and bind, in order (reference §4.3: `verify` returns those first, then every
   * discharge's caveats). A descendant's appended caveats go between the two parts.
   */
  readonly ownCount: number;
}

/** The MAC'd bytes of each caveat: decoding refused non-canonical input, so these are the wire bytes. */
function packedOf(token: Macaroon): Uint8Array[] {
  return token.unsafeCaveats.map(packCaveat);
}

/** Caveats tkdb's verify hands back from the token itself (not 3P, not bind), in token order. */
export function ownCaveats(token: Macaroon): Caveat[] {
  return token.unsafeCaveats.filter((c) => c.type !== CAV_3P && c.type !== CAV_BIND_TO_PARENT);
}

export function ancestorOf(token: Macaroon): VerifiedAncestor {
  return { packed: packedOf(token), tail: token.unsafeTail(), ownCount: ownCaveats(token).length };
}

/**
 * Whether tkdb's verify decides an appended caveat by the MAC alone, so the cache may accept it
 * without asking: a first-party caveat of a type the registry knows, not an attestation.
 * Everything else changes what tkdb decides beyond the MAC, so it is not decided here:
 * - third-party caveats need discharges the cache cannot check without the third party's key;
 * - a bind caveat in a permission token binds to no parent, and tkdb refuses it;
 * - an attestation in a permission token (not a proof) is refused by tkdb (reference §4.5);
 * - an unregistered type: the cache cannot know how tkdb reads it.
 */
export function decidableByMac(c: Caveat): boolean {
  if (c.type === CAV_3P || c.type === CAV_BIND_TO_PARENT) return false;
  if (c.isAttestation === true) return false;
  return !(c instanceof UnregisteredCaveat);
}

/**
 * If `token` is `ancestor` with only caveats that `decidableByMac` allows appended (as
 * attenuate-on-use produces) and its tail continues the ancestor's chain, returns the appended
 * caveats; otherwise undefined, and the caller asks the authority.
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
  if (!extra.every(decidableByMac)) return undefined;
  let mac = ancestor.tail;
  for (let i = n; i < packed.length; i++) mac = backend.hmacSha256(mac, packed[i] as Uint8Array);
  return backend.timingSafeEqual(mac, tail) ? extra : undefined;
}

/**
 * Fingerprint of a discharge list (public data), to key cache entries. Order matters: when two
 * discharges match one ticket, tkdb folds in the caveats of the first that verifies, in header
 * order, so the same set in another order may verify to other caveats.
 */
export function dischargeSetKey(discharges: readonly Uint8Array[], backend: CryptoBackend): string {
  if (discharges.length === 0) return "";
  return discharges.map((d) => hexEncode(backend.sha256(d))).join(",");
}
