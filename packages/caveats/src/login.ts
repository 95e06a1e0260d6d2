/**
 * What a login service does for a Fly.io user, for development and tests (`tkdb dev login`, the
 * end-to-end flow): the caveats of a user's permission token, and the login third-party caveat
 * added to it and discharged with the key the login service shares with tkdb. A production login
 * service checks who logged in first; here the caller says who.
 */
import {
  coreRegistry,
  dischargeTicket,
  type Macaroon,
  ValidityWindow,
  validateCaveats,
} from "@tkdb/macaroon";
import { DischargeRequest } from "./access.js";
import { authCodecs, ConfineOrganization, FlyioUserID } from "./auth.js";

/** The login ticket holds only auth caveats. */
const loginRegistry = coreRegistry.extend(...authCodecs);

/** A caveat in Go's JSON form (`{type, body}`), as tkdb's `mint` takes it. */
export interface JSONCaveat {
  type: string;
  body: Record<string, unknown>;
}

/** Default lifetime of a development login (the user token and its login discharge), in seconds. */
export const LOGIN_TTL_S = 3600;

/** The caveats (Go JSON form, for tkdb's `mint`) of a user's token: full access to `org`, for `ttlS`. */
export function userTokenCaveats(org: bigint, nowS: number, ttlS = LOGIN_TTL_S): JSONCaveat[] {
  return [
    { type: "Organization", body: { id: Number(org), mask: "rwcdC" } },
    { type: "ValidityWindow", body: { not_before: nowS - 60, not_after: nowS + ttlS } },
  ];
}

/**
 * Adds the login third-party caveat (ConfineOrganization(org), at `authLocation`, sealed with
 * `authKey`) to `permission`, then discharges it as the login service would for `userId`: the
 * discharge carries a ValidityWindow of `ttlS` and the FlyioUserID attestation. Returns the
 * discharge; `permission` now needs it.
 */
export function loginDischarge(
  permission: Macaroon,
  opts: { authKey: Uint8Array; authLocation: string; org: bigint; userId: bigint; ttlS?: number },
): Macaroon {
  const ticket = permission.add3P(opts.authKey, opts.authLocation, [new ConfineOrganization(opts.org)]);
  // The login service opens the ticket, checks its caveats against who logged in, discharges.
  const { caveats, discharge } = dischargeTicket(opts.authKey, opts.authLocation, ticket, {
    registry: loginRegistry,
  });
  validateCaveats(
    caveats,
    new DischargeRequest({ flyio: [{ userId: opts.userId, organizationIds: [opts.org] }] }),
  );
  discharge.add(ValidityWindow.fromNow(opts.ttlS ?? LOGIN_TTL_S), new FlyioUserID(opts.userId));
  return discharge;
}
