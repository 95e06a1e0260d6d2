/** `verify` (verify API, anyone; also `tkdb token verify`): a header's permission token and discharges. */
import { str } from "../token-args.js";
import type { TokenService, VerifyResult } from "../tokens.js";

/** Verifies the whole bundle (signature, caveats, discharges, revocation); validity windows are the caller's. */
export function verify(svc: TokenService, args: Record<string, unknown>): VerifyResult {
  const { permission, discharges } = svc.parse(str(args, "header"));
  const { cavs: _c, ...r } = svc.verifyParsed(permission, discharges);
  return r;
}
