/**
 * `tkdb token mint --org <id> [--app <id>] [--expiry 1h] [--caveats <json>]`: mint a permission
 * token on the local database (TKDB_DATA_DIR, TKDB_KEK), audited as cli:<user>, or with
 * `--online` through the running tkdb (signing op `mint`, Noise KK). A token that
 * would never expire is refused unless `--unrestricted` says so on purpose (exit 2, naming both
 * ways out). The token alone goes to stdout (`--json`: token and nonce).
 */
import { flyRegistry } from "@tkdb/caveats";
import { caveatSetFromJSON, ValidityWindow } from "@tkdb/macaroon";
import { CliError, command, durationParser, KindError } from "@tkdb/service";
import { clientEnv, serviceEnv } from "../env.js";
import { call } from "./online.js";
import { admin, INIT_OPTION, parseJSON, tkdbRun } from "./shared.js";

const DAY_MS = 24 * 3_600_000;
const hms = durationParser({ min: 1000, max: 366 * DAY_MS });

/** A lifetime: 90s, 30m, 1h, 7d, or bare seconds (at most 366 days), in whole seconds. */
export function parseExpiry(text: string): number {
  const days = /^(\d{1,3})d$/.exec(text.trim());
  const ms = days ? Number(days[1]) * DAY_MS : hms(text);
  if (ms < 1000 || ms > 366 * DAY_MS) throw new KindError("must be a duration between 1s and 366d");
  return Math.floor(ms / 1000);
}

const ID = /^[1-9]\d{0,18}$/;

function id(v: unknown, flag: string): string {
  if (typeof v !== "string" || !ID.test(v))
    throw CliError.usage(`${flag} must be a positive decimal id`, { where: flag });
  return v;
}

/** True when a caveat list (Go JSON) holds a ValidityWindow; unreadable lists are left to mint. */
function expires(caveats: unknown): boolean {
  try {
    return caveatSetFromJSON(caveats, flyRegistry).some((c) => c instanceof ValidityWindow);
  } catch {
    return true; // mint refuses it with bad_caveats, naming the problem
  }
}

export const tokenMint = command({
  name: "mint",
  description: "mint a permission token for an organization (local database, or --online)",
  // The old positional form `token mint <org> [caveats-json]` keeps working.
  args: [
    { name: "org", description: "organization id (or --org)", required: false },
    { name: "caveats", description: "caveats as JSON (or --caveats)", required: false },
  ],
  options: [
    { flags: "--org <id>", description: "organization id" },
    { flags: "--app <id>", description: "confine the token to this app (an Apps caveat, all access)" },
    {
      flags: "--expiry <duration>",
      description: "lifetime: 90s, 30m, 1h, 7d (a ValidityWindow)",
      parse: parseExpiry,
    },
    { flags: "--caveats <json>", description: 'more caveats as JSON, e.g. [{"type":"Organization",…}]' },
    {
      flags: "--unrestricted",
      description: "allow a token that never expires (no --expiry, no ValidityWindow)",
    },
    INIT_OPTION,
    {
      flags: "--online",
      description: "mint through the running tkdb at TKDB_URL (signing op mint, Noise KK)",
    },
  ],
  env: { ...serviceEnv, ...clientEnv },
  examples: [
    "tkdb token mint --org 5 --expiry 1h",
    "tkdb token mint --org=5 --app=7 --expiry 30m --json",
    `tkdb token mint --org 5 --expiry 7d --caveats '[{"type":"Organization","body":{"id":5,"mask":"r"}}]'`,
    "tkdb token mint --org 5 --unrestricted   # never expires: keep it like a root credential",
  ],
  run: tkdbRun((ctx) => {
    const org = id((ctx.opts.org as string | undefined) ?? ctx.args.org, "--org");
    const caveatsText = (ctx.opts.caveats as string | undefined) ?? (ctx.args.caveats as string | undefined);
    const extra = parseJSON(caveatsText ?? "[]", "caveats");
    if (!Array.isArray(extra)) throw CliError.usage("caveats must be a JSON array", { where: "--caveats" });
    const caveats: unknown[] = [];
    if (ctx.opts.app !== undefined)
      caveats.push({ type: "Apps", body: { apps: { [id(ctx.opts.app, "--app")]: "rwcdC" } } });
    const ttl = ctx.opts.expiry as number | undefined;
    if (ttl !== undefined) {
      const now = Math.floor(Date.now() / 1000);
      caveats.push({ type: "ValidityWindow", body: { not_before: now - 60, not_after: now + ttl } });
    }
    caveats.push(...extra);
    if (ctx.opts.unrestricted !== true && !expires(caveats))
      throw CliError.usage(
        `refusing to mint a token for org ${org} that never expires${caveats.length === 0 ? " and has no caveats (it could do anything in the org, forever)" : ""}`,
        {
          where: "--expiry",
          hint: "add --expiry 1h (or a ValidityWindow caveat); to mint a never-expiring token on purpose, add --unrestricted",
        },
      );
    if (ctx.opts.online === true)
      return call(ctx, "sign", "mint", { org, caveats }) as Promise<{ token: string; nonce: string }>;
    return admin(ctx, "mint", (svc) => svc.mint({ org, caveats }));
  }),
  human: (r: { token: string }) => `${r.token}\n`,
});
