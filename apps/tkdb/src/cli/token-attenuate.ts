/** `tkdb token attenuate <token> <caveats-json>`: append caveats locally (offline). */
import { flyRegistry } from "@tkdb/caveats";
import { caveatSetFromJSON, Macaroon } from "@tkdb/macaroon";
import { command } from "@tkdb/service";
import { parseJSON, tkdbRun } from "./shared.js";

export const tokenAttenuate = command({
  name: "attenuate",
  description: "append caveats to a token (offline; the result can only do less)",
  args: [
    { name: "token", description: "the token (fm2_…)" },
    { name: "caveats", description: "caveats to add, as JSON" },
  ],
  examples: [`tkdb token attenuate fm2_… '[{"type":"Apps","body":{"apps":{"7":"r"}}}]'`],
  run: tkdbRun((ctx) => {
    const m = Macaroon.fromStringUnverified(ctx.args.token as string, { registry: flyRegistry });
    m.add(...caveatSetFromJSON(parseJSON(ctx.args.caveats as string, "caveats"), flyRegistry));
    return m.toString();
  }),
});
