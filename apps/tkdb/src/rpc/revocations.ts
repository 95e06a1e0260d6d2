/** `revocations` (verify API, anyone): the revocation feed, oldest first, by cursor. */
import { base64Encode } from "@tkdb/macaroon";
import { badRequest } from "../errors.js";
import type { TokenService } from "../tokens.js";

export function revocations(
  svc: TokenService,
  args: Record<string, unknown>,
): { nonces: string[]; cursor: string } {
  const c = args.cursor ?? "0";
  if (typeof c !== "string" || !/^\d{1,15}$/.test(c)) throw badRequest("cursor must be a decimal string");
  const l = args.limit ?? 1000;
  if (typeof l !== "number" || !Number.isInteger(l) || l < 1 || l > 5000)
    throw badRequest("limit must be an integer in 1..5000");
  const page = svc.store.revocationsSince(Number(c), l);
  return { nonces: page.nonces.map(base64Encode), cursor: String(page.cursor) };
}
