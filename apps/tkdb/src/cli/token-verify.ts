/** `tkdb token verify <header>`: ask a running tkdb to verify (TKDB_URL, TKDB_SERVER_PUBLIC_KEY). */
import { command } from "@tkdb/service";
import { clientEnv } from "../env.js";
import { call, pretty, tkdbRun } from "./shared.js";

export const tokenVerify = command({
  name: "verify",
  description: "verify a FlyV1 header against a running tkdb (online)",
  args: [{ name: "header", description: "FlyV1 header" }],
  env: clientEnv,
  examples: ["TKDB_SERVER_PUBLIC_KEY=… tkdb token verify 'FlyV1 fm2_…'"],
  run: tkdbRun((ctx) => call(ctx, "verify", "verify", { header: ctx.args.header as string })),
  human: pretty,
});
