/** `serve`: the service from the environment, until SIGTERM/SIGINT. Prints {url, publicKey, metrics}. */
import { loadConfig } from "./env.js";
import { startReplication } from "./litestream.js";
import { startTkdb } from "./server.js";

export async function serve(): Promise<void> {
  const config = loadConfig();
  const h = await startTkdb(config);
  const ls = config.litestreamConfig ? startReplication(config.litestreamConfig) : undefined;
  process.stdout.write(
    `${JSON.stringify({ url: h.url, publicKey: Buffer.from(h.publicKey).toString("hex"), publicKeyBase64Url: Buffer.from(h.publicKey).toString("base64url"), metrics: h.metricsUrl ?? null })}\n`,
  );
  const stop = async () => {
    await h.close();
    ls?.kill("SIGTERM");
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
