/**
 * The audited bodies of the local token commands (`petsem token mint`, `petsem token revoke`): each
 * is a durable intent, the effect, a durable outcome in the CLI's audit log (`<audit dir>/cli`,
 * node `<node>-cli`; audit-log.ts). Events name tokens by nonce reference, never the token.
 */
import { nonceRef } from "@tkdb/audit";
import { base64Encode } from "@tkdb/macaroon";
import { withCliAudit } from "./audit-log.js";
import type { RevokeResult } from "./blacklist.js";
import { type OpenPetsem, petsemAuditDir, type StartPetsemConfig } from "./server.js";
import type { MintOptions } from "./tokens.js";

type AuditConfig = Pick<StartPetsemConfig, "file" | "dataDir" | "auditDir" | "auditNode">;

function withAudit<R>(config: AuditConfig, opened: OpenPetsem, fn: Parameters<typeof withCliAudit<R>>[3]) {
  return withCliAudit(petsemAuditDir(config), config.auditNode ?? "petsem", opened.store, fn);
}

/** `token revoke`: the blacklist row and its `audit_applied` row in one transaction. */
export function auditedRevoke(
  config: AuditConfig,
  opened: OpenPetsem,
  nonce: Uint8Array,
  user: string,
): Promise<RevokeResult> {
  const ids = { nonce: nonceRef(base64Encode(nonce)) };
  return withAudit(config, opened, (audit) =>
    audit.command("revoke", user, ids, (intent) => opened.blacklist.revoke(nonce, intent)),
  );
}

/** `token mint`: the outcome names the new token's nonce. */
export function auditedMint(
  config: AuditConfig,
  opened: OpenPetsem,
  kind: "writer" | "reader",
  opts: MintOptions,
  user: string,
): Promise<string> {
  const ids = {
    subject: kind,
    ...(opts.org === undefined ? {} : { org: opts.org.toString(10) }),
    ...(opts.app === undefined ? {} : { app: opts.app.toString(10) }),
  };
  const { authority } = opened;
  return withAudit(config, opened, (audit) =>
    audit.command(
      "mint",
      user,
      ids,
      () => (kind === "writer" ? authority.mintWriter(opts) : authority.mintReader(opts)),
      (token) => ({ nonce: nonceRef(base64Encode(authority.nonceToRevoke({ token }))) }),
    ),
  );
}
