/**
 * `tkdb token attenuate <token|header|-> <caveats-json>`: append caveats locally (offline; the
 * result can only do less). A full `FlyV1` header keeps its discharges: the permission token is
 * attenuated and the header printed again with the same discharges after it.
 */
import { flyRegistry } from "@tkdb/caveats";
import { caveatSetFromJSON, encodeAuthorizationHeader, MacaroonError } from "@tkdb/macaroon";
import { CliError, command } from "@tkdb/service";
import { parseJSON, tkdbRun, tokenInput } from "./shared.js";
import { parseTokens } from "./token-view.js";

export const tokenAttenuate = command({
  name: "attenuate",
  description: "append caveats to a token or FlyV1 header (offline; the result can only do less)",
  args: [
    { name: "token", description: "token or FlyV1 header (its discharges are kept); - : read stdin" },
    { name: "caveats", description: "caveats to add, as JSON (or --caveats)", required: false },
  ],
  options: [{ flags: "--caveats <json>", description: "caveats to add, as JSON" }],
  examples: [
    `tkdb token attenuate fm2_… '[{"type":"Apps","body":{"apps":{"7":"r"}}}]'`,
    `tkdb token attenuate - --caveats '[{"type":"ValidityWindow","body":{"not_before":0,"not_after":1796000000}}]' < login.txt`,
  ],
  run: tkdbRun(async (ctx) => {
    const caveatsText = (ctx.opts.caveats as string | undefined) ?? (ctx.args.caveats as string | undefined);
    if (caveatsText === undefined)
      throw CliError.usage("missing the caveats to add", { where: "--caveats", hint: "give them as JSON" });
    let caveats: ReturnType<typeof caveatSetFromJSON>;
    try {
      caveats = caveatSetFromJSON(parseJSON(caveatsText, "caveats"), flyRegistry);
    } catch (e) {
      if (!(e instanceof MacaroonError)) throw e;
      throw CliError.usage(`caveats: ${e.message}`, { where: "caveats" });
    }
    const text = await tokenInput(ctx, ctx.args.token, "token");
    const tokens = parseTokens(text);
    const perms = tokens.filter((t) => t.role === "permission");
    const target = tokens.length === 1 ? tokens[0] : perms.length === 1 ? perms[0] : undefined;
    if (target === undefined)
      throw CliError.refused(
        `the header holds ${perms.length} permission tokens; attenuate needs exactly one`,
        { hint: "pass the one permission token to attenuate (tkdb token inspect shows which is which)" },
      );
    target.macaroon.add(...caveats);
    if (tokens.length === 1 && !/^\s*(flyv1|bearer)\s/i.test(text))
      return { token: target.macaroon.toString() };
    return { token: encodeAuthorizationHeader(tokens.map((t) => t.macaroon)) };
  }),
  human: (r: { token: string }) => `${r.token}\n`,
});
