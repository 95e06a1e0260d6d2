/** `org_create` (sign API; also `tkdb org create`): an org's root key, created once (idempotent). */
import { base64Encode } from "@tkdb/macaroon";
import type { AuditInput } from "../store.js";
import { orgId } from "../token-args.js";
import type { TokenService } from "../tokens.js";

/** Call inside store.transaction; returns [result, audit record]. */
export function orgCreate(
  svc: TokenService,
  args: Record<string, unknown>,
): [{ org: string; kid: string; created: boolean }, AuditInput] {
  const org = orgId(args);
  const existing = svc.store.rootKeyByOrg(org);
  if (existing !== undefined) {
    const r = { org, kid: base64Encode(existing.kid), created: false };
    return [r, { org, kid: r.kid }];
  }
  const key = svc.p.random(32);
  const kid = svc.p.random(16);
  svc.store.insertRootKey({
    org,
    kid,
    sealedKey: svc.sealRootKey(org, kid, key),
    created: svc.now(),
  });
  key.fill(0);
  const r = { org, kid: base64Encode(kid), created: true };
  return [r, { org, kid: r.kid }];
}
