/**
 * `tkdb token inspect <token|header|->`: decode WITHOUT verifying (like `fly tokens debug`): each
 * token's role, location, nonce and caveats, validity windows as dates beside epoch seconds with
 * EXPIRED / NOT YET VALID markers. A non-token exits 1 (the input is never echoed).
 */
import { command } from "@tkdb/service";
import { tkdbRun, tokenInput } from "./shared.js";
import { describeToken, formatTokens, parseTime, parseTokens } from "./token-view.js";

/** Readable, unverified view of every token in a header. */
export function inspect(input: string, nowS: bigint): Record<string, unknown>[] {
  return parseTokens(input).map((t) => describeToken(t, nowS));
}

export const tokenInspect = command({
  name: "inspect",
  description: "decode a token or FlyV1 header WITHOUT verifying it (offline): caveats, dates, expiry",
  args: [{ name: "token", description: "token or FlyV1 header; - : read stdin" }],
  options: [
    {
      flags: "--at <time>",
      description: "judge the validity windows at this time (ISO 8601 or unix seconds; default now)",
      parse: parseTime,
    },
  ],
  examples: ["tkdb token inspect 'FlyV1 fm2_…'", "pbpaste | tkdb token inspect - --json"],
  run: tkdbRun(async (ctx) => {
    const text = await tokenInput(ctx, ctx.args.token, "token");
    const nowS = (ctx.opts.at as bigint | undefined) ?? BigInt(Math.floor(Date.now() / 1000));
    const views = inspect(text, nowS);
    return views.length === 1 ? views[0] : views;
  }),
  human: (r) => formatTokens(Array.isArray(r) ? r : [r as Record<string, unknown>]),
});
