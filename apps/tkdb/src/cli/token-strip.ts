/** `tkdb token strip <header>`: permission token + auth discharge → service token (online, KK). */
import { command } from "@tkdb/service";
import { clientEnv } from "../env.js";
import { call, pretty, tkdbRun } from "./shared.js";

export const tokenStrip = command({
  name: "strip",
  description: "turn a permission token and its auth discharge into a service token (online)",
  args: [{ name: "header", description: "FlyV1 header: permission token and auth discharge" }],
  env: clientEnv,
  examples: ["TKDB_SERVER_PUBLIC_KEY=… TKDB_CLIENT_KEY_FILE=… tkdb token strip 'FlyV1 fm2_…,fm2_…'"],
  run: tkdbRun((ctx) => call(ctx, "sign", "strip", { header: ctx.args.header as string })),
  human: pretty,
});
