/**
 * `tkdb discharge --ticket <ticket|reader token> --user-token <header|-> --org N --app N`: the API
 * tier's request for a machine-boot discharge. tkdb (TKDB_URL, verify API op `discharge`, a
 * forward-secret Noise session) checks the user's whole bundle and its right to deploy the app,
 * and returns a short-lived discharge for petsem's ticket; the user's token goes no further than
 * the API tier (workers get the discharge only). The discharge alone goes to stdout.
 */
import { flyRegistry } from "@tkdb/caveats";
import { base64Encode, parseAuthorizationHeader } from "@tkdb/macaroon";
import { CliError, command } from "@tkdb/service";
import { call, verifyEnv } from "./online.js";
import { tkdbRun, tokenInput } from "./shared.js";
import { locationEnv } from "./token-view.js";

const ID = /^[1-9]\d{0,18}$/;

function id(v: unknown, flag: string): string {
  if (typeof v !== "string" || !ID.test(v))
    throw CliError.usage(`${flag} must be a positive decimal id`, { where: flag });
  return v;
}

/** A base64 ticket as is; a token or header (petsem's reader token): its ticket for tkdb's location. */
export function ticketOf(text: string, location: string): string {
  if (!/^\s*(flyv1\s|bearer\s|fm[12]_)/i.test(text)) return text.trim();
  for (const t of parseAuthorizationHeader(text, { registry: flyRegistry })) {
    if (t.kind !== "macaroon") continue;
    const ticket = t.macaroon.thirdPartyTickets().get(location)?.[0];
    if (ticket !== undefined) return base64Encode(ticket);
  }
  throw CliError.refused(`the --ticket token has no third-party caveat for ${location}`, {
    where: "--ticket",
    hint: "pass petsem's reader token (petsem token mint --reader) or the ticket itself (base64)",
  });
}

export const discharge = command({
  name: "discharge",
  description: "API tier: ask tkdb for a machine-boot discharge with the user's token (online)",
  options: [
    {
      flags: "--ticket <ticket>",
      description: "petsem's ticket (base64), or the reader token holding it; - : read stdin",
      required: true,
    },
    {
      flags: "--user-token <header>",
      description: "the user's FlyV1 bundle; - : read stdin",
      required: true,
    },
    { flags: "--org <id>", description: "organization id", required: true },
    { flags: "--app <id>", description: "app id the machine belongs to", required: true },
  ],
  env: { ...verifyEnv, ...locationEnv },
  examples: [
    'npm run -s tkdb -- discharge --ticket "$READER" --user-token - --org 5 --app 7 < user.txt',
    "tkdb discharge --ticket <base64> --user-token 'FlyV1 fm2_…,fm2_…' --org 5 --app 7 --json",
  ],
  run: tkdbRun(async (ctx) => {
    if (ctx.opts.ticket === "-" && ctx.opts.userToken === "-")
      throw CliError.usage("only one of --ticket and --user-token can read stdin", { where: "--ticket" });
    const org = id(ctx.opts.org, "--org");
    const app = id(ctx.opts.app, "--app");
    const ticket = ticketOf(
      await tokenInput(ctx, ctx.opts.ticket, "--ticket"),
      ctx.config(locationEnv).location,
    );
    const header = await tokenInput(ctx, ctx.opts.userToken, "--user-token");
    const r = (await call(ctx, "verify", "discharge", { ticket, header, org, app })) as { discharge: string };
    return { discharge: r.discharge };
  }),
  human: (r: { discharge: string }) => `${r.discharge}\n`,
});
