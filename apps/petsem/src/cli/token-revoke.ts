/**
 * `petsem token revoke (--nonce NONCE | --token TOKEN)`: revokes a petsem token (writer or
 * reader) and every attenuation of it, in the local (primary's) database: audited, honoured by
 * the next call. NONCE is base64 of the token's msgpack nonce (as tkdb names nonces); TOKEN a
 * petsem token or FlyV1 header, or `-` to read it from stdin (a token in argv shows in `ps`).
 */
import { CliError, type CommandDef, command } from "@tkdb/service";
import { auditedRevoke } from "../cli-audit.js";
import { openPetsem, petsemDbFile } from "../server.js";
import { localUser, petsemConfig, requireDatabase } from "./common.js";

export interface RevokeResult {
  readonly nonce: string;
  /** false: it already was */
  readonly revoked: boolean;
}

export const tokenRevoke: CommandDef<RevokeResult> = command({
  name: "revoke",
  description: "revoke a petsem token and every attenuation of it (audited; honoured by the next call)",
  options: [
    { flags: "--nonce <nonce>", description: "the token's nonce (base64 of its msgpack nonce)" },
    { flags: "--token <token>", description: "the token or FlyV1 header; - reads it from stdin" },
  ],
  examples: ["petsem token revoke --nonce kgHEEC0x...", 'printf %s "$TOKEN" | petsem token revoke --token -'],
  run: async (ctx) => {
    const { nonce, token } = ctx.opts as { nonce?: string; token?: string };
    if ((nonce === undefined) === (token === undefined))
      throw CliError.usage("give exactly one of --nonce and --token", { where: "--nonce" });
    const text = token === "-" ? (await ctx.readStdin(64 * 1024)).trim() : token;
    const config = petsemConfig(ctx);
    // Revoking on a folder without a database would create an empty one that nothing serves.
    requireDatabase(petsemDbFile(config));
    const opened = openPetsem(config);
    try {
      const target = text === undefined ? { nonce: nonce as string } : { token: text };
      const bytes = opened.authority.nonceToRevoke(target);
      return await auditedRevoke(config, opened, bytes, localUser());
    } finally {
      opened.close();
    }
  },
  human: (r) => `${JSON.stringify(r)}\n`,
});
