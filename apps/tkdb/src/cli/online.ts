/**
 * The online commands' one way to a running tkdb: an HTTP/Noise session to TKDB_URL, the verify
 * API over IK (anyone) or the signing API over KK (a client key the server lists in
 * TKDB_SIGN_CLIENTS). Failures become CliErrors that say what failed, at which URL, and what to
 * do next: nothing listening is exit 3; a refused handshake or op is exit 1.
 */
import { getNative, NoiseRemoteError, NoiseTransportError, noiseCall } from "@tkdb/noise";
import { CliError, type CommandContext, codeIs } from "@tkdb/service";
import { clientEnv } from "../env.js";

const START_HINT =
  "start it (npm start) or point TKDB_URL at it; inside the repository, npm start's data/dev.env sets TKDB_URL and TKDB_SERVER_PUBLIC_KEY";

/** Codes the server sends for a busy or unavailable service: retry later (exit 3). */
const RETRY_CODES = new Set(["unavailable", "not_primary", "stale", "replay", "stale_request"]);

/** Turns a failed call into what the operator needs to know (never a token or key in the text). */
export function onlineError(err: unknown, url: string, api: "verify" | "sign", op: string): unknown {
  if (err instanceof NoiseRemoteError) {
    const hint =
      err.code === "forbidden" && api === "sign"
        ? `this signing key may not call ${op}: add ${op} to its entry in the server's TKDB_SIGN_CLIENTS (<public key>:…+${op})`
        : err.code === "revoked"
          ? "this token was revoked; get a new one"
          : codeIs(err, "unauthorized")
            ? "check the token and its discharges (tkdb token inspect shows them)"
            : typeof err.details?.primary === "string"
              ? `this node is a replica: point TKDB_URL at the primary (${err.details.primary})`
              : undefined;
    return new CliError(
      RETRY_CODES.has(err.code) ? "unreachable" : "refused",
      `tkdb refused ${op}: ${err.message}`,
      {
        code: err.code,
        where: url,
        ...(hint === undefined ? {} : { hint }),
        cause: err,
      },
    );
  }
  if (err instanceof NoiseTransportError) {
    const status = err.status;
    if (status === undefined || status >= 500)
      return CliError.unreachable(
        `cannot reach tkdb at ${url} (${status === undefined ? err.code : `HTTP ${status}`})`,
        { where: `${url} (TKDB_URL)`, hint: START_HINT, cause: err },
      );
    if (status === 400 || status === 401 || status === 403)
      return CliError.refused(
        api === "sign"
          ? `tkdb at ${url} refused the signing handshake (HTTP ${status})`
          : `tkdb at ${url} refused the handshake (HTTP ${status})`,
        {
          where: api === "sign" ? "TKDB_CLIENT_KEY, TKDB_SERVER_PUBLIC_KEY" : "TKDB_SERVER_PUBLIC_KEY",
          hint:
            api === "sign"
              ? "the public key of TKDB_CLIENT_KEY must be on the server's TKDB_SIGN_CLIENTS (tkdb keygen prints a pair), and TKDB_SERVER_PUBLIC_KEY must be this server's Noise public key (npm start prints it)"
              : "TKDB_SERVER_PUBLIC_KEY must be this server's Noise public key (npm start and tkdb serve print it)",
        },
      );
    return CliError.refused(`tkdb at ${url} answered HTTP ${status}: is TKDB_URL a tkdb server?`, {
      where: `${url} (TKDB_URL)`,
      hint: "point TKDB_URL at tkdb (npm start: http://127.0.0.1:7401)",
    });
  }
  return err;
}

/** One RPC to a running tkdb: verify over IK (anyone), sign over KK (a listed client key). */
export async function call(
  ctx: CommandContext,
  api: "verify" | "sign",
  op: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  const c = ctx.config(clientEnv);
  if (c.serverPublicKey === undefined)
    throw CliError.usage(`set TKDB_SERVER_PUBLIC_KEY to talk to tkdb at ${c.url}`, {
      where: "TKDB_SERVER_PUBLIC_KEY",
      hint: "the server's Noise public key (hex), printed by npm start and tkdb serve; inside the repository npm start's data/dev.env sets it",
    });
  const base = { url: c.url, api, op, args, serverPublicKey: c.serverPublicKey, signal: ctx.signal };
  try {
    if (api === "verify") return await noiseCall({ ...base, pattern: "IK" });
    if (c.clientKey === undefined)
      throw CliError.usage(`${op} needs a signing client key: set TKDB_CLIENT_KEY or TKDB_CLIENT_KEY_FILE`, {
        where: "TKDB_CLIENT_KEY",
        hint: "a Noise private key whose public key is on the server's TKDB_SIGN_CLIENTS (npm start: data/keys/signing-client.noise)",
      });
    const nc = getNative();
    if (nc === undefined) throw CliError.refused("this Node has no X25519 in node:crypto");
    const clientStaticKey = { secretKey: c.clientKey, publicKey: nc.publicKeyOf(c.clientKey) };
    return await noiseCall({ ...base, pattern: "KK", clientStaticKey });
  } catch (e) {
    throw onlineError(e, c.url, api, op);
  }
}

/** What the verify API needs (no signing key): for the --help of verify-only commands. */
export const verifyEnv = { url: clientEnv.url, serverPublicKey: clientEnv.serverPublicKey };
