/**
 * `tkdb token verify <header|-> [--at <time>]`: a running tkdb (TKDB_URL) checks signatures,
 * discharges and revocation; this command then judges every validity window at `--at` (default
 * now: the server leaves windows to the caller). Valid: exit 0. Refused, expired or not yet valid:
 * exit 1, naming the failing caveat. Nothing listening at TKDB_URL: exit 3.
 */
import { CliError, command } from "@tkdb/service";
import { call, verifyEnv } from "./online.js";
import { tkdbRun, tokenInput } from "./shared.js";
import { describeFailure, isoOf, parseTime, parseTokens, windowFailure } from "./token-view.js";

export const tokenVerify = command({
  name: "verify",
  description: "verify a token or FlyV1 header with a running tkdb, and judge its validity now (online)",
  args: [{ name: "header", description: "FlyV1 header or token; - : read stdin" }],
  options: [
    {
      flags: "--at <time>",
      description: "judge the validity windows at this time (ISO 8601 or unix seconds; default now)",
      parse: parseTime,
    },
  ],
  env: verifyEnv,
  examples: [
    "tkdb token verify 'FlyV1 fm2_…,fm2_…'",
    "tkdb token verify - --at 2026-12-24T00:00:00Z --json < token.txt",
  ],
  run: tkdbRun(async (ctx) => {
    const header = await tokenInput(ctx, ctx.args.header, "header");
    const tokens = parseTokens(header);
    const r = (await call(ctx, "verify", "verify", { header })) as {
      org: string;
      nonce: string;
      caveats: unknown;
    };
    const at = (ctx.opts.at as bigint | undefined) ?? BigInt(Math.floor(Date.now() / 1000));
    const failure = windowFailure(tokens, at);
    if (failure !== undefined)
      throw CliError.refused(`the signatures verify, but ${describeFailure(failure)}`, {
        code: failure.state === "expired" ? "expired" : "not_yet_valid",
        where: `validity judged at ${isoOf(at)} (${at})`,
        hint:
          failure.state === "expired"
            ? "get a new token (tkdb token mint --expiry …, or log in again)"
            : "wait, or pass --at to judge it at another time",
      });
    let expires: bigint | undefined;
    for (const t of tokens)
      for (const c of t.macaroon.unsafeCaveats) {
        const after = (c as { notAfter?: unknown }).notAfter;
        if (typeof after === "bigint" && (expires === undefined || after < expires)) expires = after;
      }
    return {
      valid: true,
      org: r.org,
      nonce: r.nonce,
      at: isoOf(at),
      expires: expires === undefined ? "never" : isoOf(expires),
      tokens: tokens.length,
      caveats: r.caveats,
    };
  }),
  human: (r: { org: string; tokens: number; expires: string; at: string; nonce: string }) =>
    `valid: org ${r.org}, ${r.tokens} token(s), expires ${r.expires} (judged at ${r.at})\nnonce: ${r.nonce}\n`,
});
