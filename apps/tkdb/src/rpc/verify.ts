/** `verify` (verify API, anyone; also `tkdb token verify`): a header's permission token and discharges. */
import { refOf } from "../audit.js";
import type { AuditInput } from "../store.js";
import { str } from "../token-args.js";
import type { TokenService, VerifyResult } from "../tokens.js";

/** Verifies the whole bundle (signature, caveats, discharges, revocation); validity windows are the caller's. */
export function verify(svc: TokenService, args: Record<string, unknown>): VerifyResult {
  return verifyAudited(svc, args)[0];
}

/** `verify` and what its (buffered) audit event names: the org and the permission token's ref. */
export function verifyAudited(svc: TokenService, args: Record<string, unknown>): [VerifyResult, AuditInput] {
  const { permission, discharges } = svc.parse(str(args, "header"));
  const { cavs: _c, ...r } = svc.verifyParsed(permission, discharges);
  return [r, { org: r.org, ...refOf(permission.macaroon) }];
}
