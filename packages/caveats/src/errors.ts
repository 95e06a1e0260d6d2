/**
 * Authorization errors of the Fly caveats, mirroring Go's sentinels (resset/errors.go,
 * macaroon/errors.go) as `code`s on @tkdb/macaroon's PermissionError, so that one error tree
 * serves both packages.
 */
import { PermissionError } from "@tkdb/macaroon";

/** Go `resset.ErrResourceUnspecified`: the access names no resource of the kind the caveat limits. */
export const RESOURCE_UNSPECIFIED = "resource_unspecified";
/** Go `resset.ErrUnauthorizedForResource`. */
export const UNAUTHORIZED_FOR_RESOURCE = "unauthorized_for_resource";
/** Go `resset.ErrUnauthorizedForAction`. */
export const UNAUTHORIZED_FOR_ACTION = "unauthorized_for_action";
/** Go `flyio.ErrUnauthorizedForRole` (AllowedRoles, IsMember). */
export const UNAUTHORIZED_FOR_ROLE = "unauthorized_for_role";
/** Go `macaroon.ErrInvalidAccess`: the access is not of a kind this caveat can judge (fails closed). */
export const INVALID_ACCESS = "invalid_access";
/** Go `macaroon.ErrBadCaveat`. */
export const BAD_CAVEAT = "bad_caveat";

export function deny(code: string, caveatType: bigint, message: string): PermissionError {
  return new PermissionError(message, { code, caveatType });
}

export function isResourceUnspecified(err: unknown): boolean {
  return err instanceof PermissionError && err.code === RESOURCE_UNSPECIFIED;
}
