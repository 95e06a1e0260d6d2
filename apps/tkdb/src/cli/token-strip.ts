/** `tkdb token strip <header|->`: permission token + auth discharge → service token (online, KK). */
import { command } from "@tkdb/service";
import { clientEnv } from "../env.js";
import { call } from "./online.js";
import { tkdbRun, tokenInput } from "./shared.js";

export const tokenStrip = command({
  name: "strip",
  description: "turn a permission token and its auth discharge into a service token (online)",
  args: [
    { name: "header", description: "FlyV1 header: permission token and auth discharge; - : read stdin" },
  ],
  env: clientEnv,
  examples: ["tkdb token strip - < login.txt", "tkdb token strip 'FlyV1 fm2_…,fm2_…' --json"],
  run: tkdbRun(async (ctx) => {
    const header = await tokenInput(ctx, ctx.args.header, "header");
    return (await call(ctx, "sign", "strip", { header })) as { token: string; nonce: string };
  }),
  human: (r: { token: string }) => `${r.token}\n`,
});
