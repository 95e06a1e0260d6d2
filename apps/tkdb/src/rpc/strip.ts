/** `strip` (sign API; also `tkdb token strip`): user token + auth discharge → service token. */
import { CAV_BIND_TO_PARENT, type Caveat, Caveat3P, Macaroon, ValidityWindow } from "@tkdb/macaroon";
import { nonceField, refOf } from "../audit.js";
import { TkdbError } from "../errors.js";
import type { AuditInput } from "../store.js";
import { nonceId, quoteLocation, recordedExpiry, str } from "../token-args.js";
import type { TokenService } from "../tokens.js";

/**
 * Permission token + its auth discharge → a service token: a new token under the same org key,
 * with no expiry of the login's and no authentication caveat, keeping every other restriction.
 *
 * - Only the 3P caveat at the auth location goes. A token with a 3P caveat at any other location
 *   (an approval service, say) is refused (`forbidden`, naming the location): dropping it would
 *   turn one short-lived approval into a permanent token that needs none.
 * - Kept: every verified caveat of the permission token except tkdb's own mint-time
 *   ValidityWindow (the first `mintCaveats` caveats, from tkdb's mint record; a token with no
 *   record, minted before the records existed, keeps all its windows), so a window the holder
 *   added stays; and every caveat of the auth discharge except its attestations and its
 *   ValidityWindow (the login session's freshness, which is what a service token replaces).
 * - The output is recorded with the user token's nonce as its parent, for `revoke`.
 * The input must be valid now (an expired login cannot be turned into a service token).
 */
export function strip(
  svc: TokenService,
  args: Record<string, unknown>,
): [{ token: string; nonce: string }, AuditInput] {
  const { permission, discharges } = svc.parse(str(args, "header"));
  const m = permission.macaroon;
  const thirdParties = m.unsafeCaveats.filter((c): c is Caveat3P => c instanceof Caveat3P);
  const foreign = [
    ...new Set(thirdParties.map((c) => c.location).filter((l) => l !== svc.config.authLocation)),
  ];
  if (foreign.length > 0)
    throw new TkdbError(
      "forbidden",
      `strip removes only the authentication caveat (${quoteLocation(svc.config.authLocation)}); this token also has a third-party caveat at ${foreign.map(quoteLocation).join(", ")}`,
    );
  if (thirdParties.length === 0)
    throw new TkdbError("bad_token", "token has no authentication caveat to strip");
  const verified = svc.verifyParsed(permission, discharges, svc.authTrusted);
  svc.checkWindows(verified.cavs);
  const record = svc.store.tokenByNonce(m.nonce.encode());
  const mintCaveats = record?.kind === "mint" ? record.mintCaveats : 0;
  const kept: Caveat[] = [];
  let permCount = 0;
  m.unsafeCaveats.forEach((c, i) => {
    if (c instanceof Caveat3P || c.type === CAV_BIND_TO_PARENT) return;
    permCount++;
    if (i < mintCaveats && c instanceof ValidityWindow) return;
    kept.push(c);
  });
  for (const c of verified.cavs.slice(permCount)) {
    if (c.isAttestation === true || c instanceof ValidityWindow || c.type === CAV_BIND_TO_PARENT) continue;
    kept.push(c);
  }
  const { kid, key } = svc.keyForOrg(verified.org);
  const out = Macaroon.mint({
    key,
    kid,
    location: svc.config.location,
    caveats: kept,
    registry: svc.registry,
  });
  key.fill(0);
  svc.store.insertToken({
    nonce: out.nonce.encode(),
    org: verified.org,
    kind: "strip",
    parent: m.nonce.encode(),
    mintCaveats: 0,
    expires: recordedExpiry(out.unsafeCaveats),
    created: svc.now(),
  });
  const nonce = nonceId(out);
  return [
    { token: out.toString(), nonce },
    { org: verified.org, ...refOf(out), parent_nonce: nonceField(verified.nonce) },
  ];
}
