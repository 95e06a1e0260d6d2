/** `mint` (sign API; also `tkdb token mint`): a permission token for an org. */
import { CAV_3P, type Caveat, caveatSetFromJSON, Macaroon, MacaroonError } from "@tkdb/macaroon";
import { refOf } from "../audit.js";
import { TkdbError } from "../errors.js";
import type { AuditInput } from "../store.js";
import { nonceId, orgId, recordedExpiry } from "../token-args.js";
import type { TokenService } from "../tokens.js";

/**
 * Mints a permission token and records it (nonce, org, how many caveats are tkdb's own, the
 * expiry tkdb gave it): strip and revoke read that record, never a presented token.
 */
export function mint(
  svc: TokenService,
  args: Record<string, unknown>,
): [{ token: string; nonce: string }, AuditInput] {
  const org = orgId(args);
  let caveats: Caveat[];
  try {
    caveats = caveatSetFromJSON(args.caveats ?? [], svc.registry);
  } catch (err) {
    throw new TkdbError(
      "bad_caveats",
      `caveats: ${err instanceof MacaroonError ? err.message : "malformed"}`,
    );
  }
  if (caveats.some((c) => c.type === CAV_3P || c.isAttestation === true))
    throw new TkdbError("bad_caveats", "caveats: third-party caveats and attestations cannot be minted");
  const { kid, key } = svc.keyForOrg(org);
  const m = Macaroon.mint({ key, kid, location: svc.config.location, caveats, registry: svc.registry });
  key.fill(0);
  const nonce = nonceId(m);
  svc.store.insertToken({
    nonce: m.nonce.encode(),
    org,
    kind: "mint",
    parent: null,
    mintCaveats: m.unsafeCaveats.length,
    expires: recordedExpiry(m.unsafeCaveats),
    created: svc.now(),
  });
  return [
    { token: m.toString(), nonce },
    // The token by its nonce and tail hash; its caveats are not logged (no free-form fields).
    { org, ...refOf(m) },
  ];
}
