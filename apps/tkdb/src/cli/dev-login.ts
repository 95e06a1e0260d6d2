/**
 * `tkdb dev login --org N --user U`: DEVELOPMENT ONLY. Plays the login service of the development
 * stack: mints a user token for org N through the running tkdb (signing op `mint`, Noise KK),
 * adds the login third-party caveat (TKDB_AUTH_LOCATION) and discharges it with the development
 * auth key for Fly.io user U, exactly as the end-to-end flow does (@tkdb/caveats login.ts). Prints
 * the user's bundle `FlyV1 <token>,<discharge>` alone on stdout.
 *
 * Refused unless development is marked: NODE_ENV=development, or npm start's data/dev.env was
 * loaded (never under NODE_ENV=production). A real deployment's login service holds the auth key;
 * no operator command should.
 */
import { flyRegistry, LOGIN_TTL_S, loginDischarge, userTokenCaveats } from "@tkdb/caveats";
import { encodeAuthorizationHeader, parseAuthorizationHeader } from "@tkdb/macaroon";
import { CliError, command, defineConfig, durationParser, key32 } from "@tkdb/service";
import { clientEnv, serviceEnv } from "../env.js";
import { call } from "./online.js";
import { isDevelopment, tkdbRun } from "./shared.js";

export const devLoginEnv = defineConfig({
  ...clientEnv,
  authLocation: serviceEnv.authLocation,
  thirdPartyKeys: serviceEnv.thirdPartyKeys,
  devAuthKey: key32("TKDB_DEV_AUTH_KEY", {
    doc: "development only: the login service's key shared with tkdb at TKDB_AUTH_LOCATION (npm start: data/keys/tkdb-auth.shared); else taken from TKDB_TP_KEYS",
  }),
});

const ID = /^[1-9]\d{0,18}$/;
const ttlParser = durationParser({ min: 60_000, max: 24 * 3_600_000 });

function id(v: unknown, flag: string): bigint {
  if (typeof v !== "string" || !ID.test(v))
    throw CliError.usage(`${flag} must be a positive decimal id`, { where: flag });
  return BigInt(v);
}

export const devLogin = command({
  name: "login",
  description: "DEVELOPMENT ONLY: log a user in (user token + login discharge) against the local stack",
  options: [
    {
      flags: "--org <id>",
      description: "organization id (create it first: tkdb org create <id>)",
      required: true,
    },
    { flags: "--user <id>", description: "Fly.io user id the login discharge attests", required: true },
    {
      flags: "--ttl <duration>",
      description: "lifetime of the login (1m..24h)",
      default: "1h",
      parse: (t) => ttlParser(t) / 1000,
    },
  ],
  env: devLoginEnv,
  examples: [
    "npm run -s tkdb -- dev login --org 5 --user 42 > user.txt",
    "tkdb dev login --org=5 --user=42 --json",
  ],
  run: tkdbRun(async (ctx) => {
    if (!isDevelopment(ctx))
      throw CliError.refused("dev login is for development only, and this is not marked as development", {
        where: "NODE_ENV",
        hint: "run it inside the repository after npm start (it writes data/dev.env), or set NODE_ENV=development; in production users log in through the login service",
      });
    const org = id(ctx.opts.org, "--org");
    const userId = id(ctx.opts.user, "--user");
    const ttlS = typeof ctx.opts.ttl === "number" ? ctx.opts.ttl : LOGIN_TTL_S;
    const cfg = ctx.config(devLoginEnv);
    const authKey = cfg.devAuthKey ?? cfg.thirdPartyKeys.get(cfg.authLocation);
    if (authKey === undefined)
      throw CliError.usage("dev login needs the development auth key", {
        where: "TKDB_DEV_AUTH_KEY_FILE",
        hint: `set TKDB_DEV_AUTH_KEY_FILE (npm start: data/keys/tkdb-auth.shared), or TKDB_TP_KEYS with ${cfg.authLocation}=<key>`,
      });
    const now = Math.floor(Date.now() / 1000);
    let minted: { token: string; nonce: string };
    try {
      minted = (await call(ctx, "sign", "mint", {
        org: org.toString(),
        caveats: userTokenCaveats(org, now, ttlS),
      })) as { token: string; nonce: string };
    } catch (e) {
      if (e instanceof CliError && (e.code === "unknown_org" || e.code === "not_found"))
        throw CliError.refused(`org ${org} does not exist at ${cfg.url}`, {
          code: "not_found",
          where: "--org",
          hint: `create it first: tkdb org create ${org}`,
        });
      throw e;
    }
    const parsed = parseAuthorizationHeader(minted.token, { registry: flyRegistry })[0];
    if (parsed?.kind !== "macaroon")
      throw CliError.refused(`tkdb at ${cfg.url} answered mint without a token`);
    const permission = parsed.macaroon;
    const discharge = loginDischarge(permission, {
      authKey,
      authLocation: cfg.authLocation,
      org,
      userId,
      ttlS,
    });
    ctx.note(`logged in user ${userId} to org ${org} for ${ttlS}s (development auth key)`);
    return {
      header: encodeAuthorizationHeader([permission, discharge]),
      org: org.toString(),
      user: userId.toString(),
      nonce: minted.nonce,
      expires: new Date((now + ttlS) * 1000).toISOString(),
    };
  }),
  human: (r: { header: string }) => `${r.header}\n`,
});
