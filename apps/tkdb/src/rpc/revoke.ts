/** `revoke` (sign API; also `tkdb token revoke`): a nonce's whole lineage, and what strip made from it. */
import { MAX_NONCES } from "@tkdb/audit";
import { base64Encode } from "@tkdb/macaroon";
import { nonceField } from "../audit.js";
import { badRequest } from "../errors.js";
import type { AuditInput } from "../store.js";
import { parseNonceId } from "../token-args.js";
import type { TokenService } from "../tokens.js";

/**
 * Revokes a nonce: every token of its lineage (every attenuation) dies. `nonce` must be a Fly
 * nonce (any key id, known or retired); `token` takes the nonce of a token or header's permission
 * token. required_until is the expiry tkdb recorded when it minted that nonce (else NULL), never
 * read from the presented token; the answer's `requiredUntil` (unix seconds or null) is that value.
 *
 * `derived` (default true) also revokes the service tokens strip made from this nonce, and theirs
 * in turn: a stolen user token may already have been turned into service tokens, and revoking the
 * login must not leave those alive. `derived: false` ends only this lineage (say, a login session
 * whose service tokens a team keeps on purpose) and must be asked for.
 */
export function revoke(
  svc: TokenService,
  args: Record<string, unknown>,
): [{ nonce: string; revoked: true; derived: string[]; requiredUntil: number | null }, AuditInput] {
  if (args.nonce !== undefined && args.token !== undefined)
    throw badRequest("revoke takes nonce or token, not both");
  const cascade = args.derived ?? true;
  if (typeof cascade !== "boolean") throw badRequest("derived must be a boolean");
  let nonceBytes: Uint8Array;
  if (typeof args.nonce === "string") {
    nonceBytes = parseNonceId(args.nonce);
  } else if (typeof args.token === "string") {
    const perm = svc.parse(args.token).permission;
    nonceBytes = perm.macaroon.nonce.encode();
  } else {
    throw badRequest("revoke needs nonce or token");
  }
  const expiryOf = (n: Uint8Array) => svc.store.tokenByNonce(n)?.expires ?? null;
  const requiredUntil = expiryOf(nonceBytes);
  svc.store.revoke(nonceBytes, requiredUntil);
  const derived: string[] = [];
  // What a re-apply after a restore needs (reapply.ts): every nonce blacklisted, with its expiry.
  const until: number[] = [requiredUntil ?? 0];
  if (cascade) {
    const seen = new Set<string>([base64Encode(nonceBytes)]);
    let frontier = [nonceBytes];
    // At most MAX_NONCES in all, so the outcome event can name every one of them.
    while (frontier.length > 0 && seen.size < MAX_NONCES) {
      const next: Uint8Array[] = [];
      for (const child of svc.store.tokensDerivedFrom(frontier)) {
        const id = base64Encode(child);
        if (seen.has(id) || seen.size >= MAX_NONCES) continue;
        seen.add(id);
        const childUntil = expiryOf(child);
        svc.store.revoke(child, childUntil);
        derived.push(id);
        until.push(childUntil ?? 0);
        next.push(child);
      }
      frontier = next;
    }
  }
  const nonce = base64Encode(nonceBytes);
  // Idempotent: a nonce already on the blacklist is just as revoked.
  return [
    { nonce, revoked: true, derived, requiredUntil },
    // `count`: the derived tokens revoked with it. `nonces`/`required_until`: the revoked nonce
    // and the derived ones, each with the expiry its blacklist row keeps (0: none), so a node
    // restored to before this revocation re-applies it from its audit log (reapply.ts).
    {
      nonce: nonceField(nonce),
      count: derived.length,
      nonces: [nonce, ...derived].map(nonceField),
      required_until: until,
    },
  ];
}
