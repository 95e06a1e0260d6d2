/** `tkdb serve`: run the service (configuration from TKDB_* variables) until SIGTERM/SIGINT. */
import { command, listenRefusal } from "@tkdb/service";
import { serveEnv, tkdbConfigFrom } from "../env.js";
import { serve as runService } from "../serve.js";
import { tkdbRun } from "./shared.js";

export const serve = command({
  name: "serve",
  description:
    "run tkdb until SIGTERM/SIGINT; prints {url, publicKey, publicKeyBase64Url, metrics} as one JSON line once listening",
  env: serveEnv,
  examples: ["TKDB_KEK_FILE=… TKDB_NOISE_KEY_FILE=… TKDB_SIGN_CLIENTS=<pub>:mint tkdb serve"],
  run: tkdbRun(async (ctx) => {
    const config = tkdbConfigFrom(ctx.config(serveEnv));
    await runService({
      config,
      stdout: ctx.stdout,
      stderr: ctx.stderr,
      signal: ctx.signal,
      env: ctx.env,
    }).catch((e: unknown) => {
      // A port in use names the port and the variable that chose it (as petsem serve does).
      throw listenRefusal(e, {
        app: "tkdb",
        host: config.host,
        port: config.port,
        hostVar: "TKDB_HOST",
        portVar: "TKDB_PORT",
      });
    });
    return undefined;
  }),
});
