/**
 * `tkdb token revoke <nonceId|token|header|->`: revoke a nonce's whole lineage, and the service
 * tokens strip made from it (`--no-derived` spares those).
 *
 * Where, as for the other admin commands: the local database (TKDB_DATA_DIR, TKDB_KEK; the old
 * behaviour, `--local` says it explicitly), or with `--online` the running tkdb (TKDB_URL, signing
 * op `revoke` over Noise KK with TKDB_CLIENT_KEY). Never chosen from the environment alone: a
 * signing key picked up from a development env file must not send a revocation to another server.
 * A note on stderr says which was used.
 */
import { CliError, command } from "@tkdb/service";
import { clientEnv, serviceEnv } from "../env.js";
import { call } from "./online.js";
import { admin, INIT_OPTION, tkdbRun, tokenInput } from "./shared.js";

interface Revoked {
  nonce: string;
  revoked: boolean;
  derived: string[];
  requiredUntil: number | null;
}

export const tokenRevoke = command({
  name: "revoke",
  description: "revoke a token (by nonce id, token or FlyV1 header) and everything made from it",
  args: [{ name: "target", description: "nonce id (base64), token or FlyV1 header; - : read stdin" }],
  options: [
    { flags: "--online", description: "ask the running tkdb at TKDB_URL (signing op revoke, Noise KK)" },
    { flags: "--local", description: "write the local database (TKDB_DATA_DIR, TKDB_KEK; the default)" },
    { flags: "--no-derived", description: "spare the service tokens strip made from it" },
    INIT_OPTION,
  ],
  env: { ...serviceEnv, ...clientEnv },
  examples: [
    "tkdb token revoke - < login.txt",
    "tkdb token revoke - --online < login.txt",
    "tkdb token revoke <nonceId> --json",
  ],
  run: tkdbRun(async (ctx) => {
    if (ctx.opts.online === true && ctx.opts.local === true)
      throw CliError.usage("choose --online or --local, not both", { where: "--online" });
    const target = await tokenInput(ctx, ctx.args.target, "target");
    const args: Record<string, unknown> = /^(FlyV1 |Bearer |fm[12]_)/i.test(target)
      ? { token: target }
      : { nonce: target };
    if (ctx.opts.derived === false) args.derived = false;
    if (ctx.opts.online === true) {
      const r = (await call(ctx, "sign", "revoke", args)) as Revoked;
      ctx.note(`revoked by tkdb at ${ctx.config(clientEnv).url}`);
      return r;
    }
    const r: Revoked = await admin(ctx, "revoke", (svc) => svc.revoke(args));
    ctx.note("revoked in the local database (TKDB_DATA_DIR)");
    return r;
  }),
  human: (r: Revoked) =>
    `revoked ${r.nonce}${r.derived.length > 0 ? ` and ${r.derived.length} service token(s) made from it` : ""}\n`,
});
