/** `discharge` (verify API, inside a session): petsem's ticket + the user's bundle → a short discharge. */
import { FlyioAccess, FlyioUserID, SecretScope, ServiceTokenNonce, UserTokenNonce } from "@tkdb/caveats";
import {
  base64Decode,
  type Caveat,
  Caveat3P,
  dischargeTicket,
  ValidityWindow,
  validateCaveats,
} from "@tkdb/macaroon";
import { nonceField, refOf } from "../audit.js";
import { badRequest, TkdbError } from "../errors.js";
import type { AuditInput } from "../store.js";
import { earliestExpiry, orgId, refusal, str } from "../token-args.js";
import { DEPLOY_ACTION, DISCHARGE_SKEW_S, type TokenService } from "../tokens.js";

/**
 * Discharges a ticket petsem placed (a reader token's 3P caveat at tkdb's location), for a
 * deploy: the caller presents the user's whole bundle (permission token + every discharge).
 *
 * - The bundle must verify in full: every 3P caveat discharged, nothing revoked, every window
 *   valid now; its org must be `org`, and it must allow deploying `app` (DEPLOY_ACTION, "rw").
 * - The discharge carries SecretScope(org, app), a ValidityWindow of at most the configured TTL
 *   (≤ 300 s, skew included) that never ends after the bundle's earliest expiry, and who asked:
 *   for a user's token (it has the auth caveat) `UserTokenNonce` and the `FlyioUserID` of the
 *   trusted auth discharge (only that discharge's attestation, never `IsUser`, which any holder
 *   can append); for a token with no user behind it (a stripped service token) its own nonce and
 *   org as `ServiceTokenNonce`.
 * Writes nothing to the database (no idempotency record: a retry gets a fresh discharge); the
 * audit events (mutate.ts runDischarge) name the org, app, user, discharge and user token.
 */
export function discharge(
  svc: TokenService,
  args: Record<string, unknown>,
): [{ discharge: string }, AuditInput] {
  const org = orgId(args, "org");
  const app = orgId(args, "app");
  const opened = openTicket(svc, args);
  const { permission, discharges } = svc.parse(str(args, "header"));
  const m = permission.macaroon;
  const user = svc.verifyParsed(permission, discharges, svc.authTrusted);
  svc.checkWindows(user.cavs);
  if (user.org !== org) throw new TkdbError("forbidden", "user token belongs to another organization");
  const access = new FlyioAccess({
    action: DEPLOY_ACTION,
    orgId: BigInt(org),
    appId: BigInt(app),
    now: new Date(svc.now()),
  });
  try {
    validateCaveats(user.cavs, access);
    if (opened.caveats.length > 0) validateCaveats(opened.caveats, access);
  } catch (err) {
    throw new TkdbError(
      "forbidden",
      `user token does not allow deploying org ${org} app ${app} (needs "rw"): ${(err as Error).message}`,
    );
  }
  const hasAuth = m.unsafeCaveats.some(
    (c) => c instanceof Caveat3P && c.location === svc.config.authLocation,
  );
  const { attest, userId } = whoAsked(user.cavs, m.nonce.encode(), hasAuth, org);
  const nowS = BigInt(Math.floor(svc.now() / 1000));
  const notBefore = nowS - DISCHARGE_SKEW_S;
  let notAfter = notBefore + BigInt(svc.config.dischargeTtl);
  const bundleExpiry = earliestExpiry([...user.cavs, ...opened.caveats]);
  if (bundleExpiry !== undefined && bundleExpiry < notAfter) notAfter = bundleExpiry;
  const d = opened.discharge;
  d.add(new ValidityWindow(notBefore, notAfter), new SecretScope(BigInt(org), BigInt(app)), ...attest);
  const token = d.toString();
  return [
    { discharge: token },
    // The discharge by its (hashed: its kid is the ticket) nonce and tail hash; the user token it
    // was issued for as parent_nonce; `user` only from the trusted auth discharge; `subject` says
    // whether a user or a service token asked.
    {
      org,
      app,
      subject: hasAuth ? "user" : "service",
      ...(userId !== undefined ? { user: userId } : {}),
      ...refOf(d),
      parent_nonce: nonceField(user.nonce),
    },
  ];
}

/** Opens petsem's ticket (a 3P caveat at tkdb's location, sealed with the key shared with petsem). */
function openTicket(svc: TokenService, args: Record<string, unknown>): ReturnType<typeof dischargeTicket> {
  // petsem's reader tokens name tkdb's own location as their 3P location.
  const ka = svc.config.thirdPartyKeys.get(svc.config.location);
  if (ka === undefined) throw new TkdbError("forbidden", "no key shared with petsem is configured");
  let ticket: Uint8Array;
  try {
    ticket = base64Decode(str(args, "ticket", 8192));
  } catch (err) {
    throw err instanceof TkdbError ? err : badRequest("ticket must be base64");
  }
  try {
    return dischargeTicket(ka, svc.config.location, ticket, { registry: svc.registry });
  } catch (err) {
    throw refusal(err, "ticket", "verification_failed");
  }
}

/**
 * Who asked, as attestations on the discharge: for a user's token (it has the auth caveat) its
 * nonce and the one FlyioUserID of the trusted auth discharge; otherwise the token's own nonce and org.
 */
function whoAsked(
  cavs: readonly Caveat[],
  permissionNonce: Uint8Array,
  hasAuth: boolean,
  org: string,
): { attest: Caveat[]; userId: string | undefined } {
  const attest: Caveat[] = [];
  let userId: string | undefined;
  if (hasAuth) {
    // Only the trusted auth discharge's attestations survive verification with authTrusted.
    const ids = [...new Set(cavs.filter((c) => c instanceof FlyioUserID).map((c) => (c as FlyioUserID).id))];
    if (ids.length > 1) throw new TkdbError("forbidden", "the bundle names more than one Fly.io user");
    attest.push(new UserTokenNonce(permissionNonce));
    if (ids[0] !== undefined) {
      userId = ids[0].toString();
      attest.push(new FlyioUserID(ids[0]));
    }
  } else {
    attest.push(new ServiceTokenNonce(permissionNonce, BigInt(org)));
  }
  return { attest, userId };
}
