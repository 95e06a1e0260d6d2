/** `serve`: the service from the environment, until SIGTERM/SIGINT. Prints {url, publicKey, metrics}. */
import { forgetReplicator, reapStaleReplicator, recordReplicator } from "@tkdb/litestream";
import { loadConfig } from "./env.js";
import { startReplication } from "./litestream.js";
import { startTkdb } from "./server.js";

export async function serve(): Promise<void> {
  const config = loadConfig();
  const h = await startTkdb(config);
  // A replicator left by a predecessor killed with SIGKILL is stopped before ours starts.
  const pidFile = `${config.dbPath}.litestream.pid`;
  if (config.litestreamConfig) await reapStaleReplicator(pidFile);
  const ls = config.litestreamConfig ? startReplication(config.litestreamConfig) : undefined;
  if (ls && config.litestreamConfig) {
    const lsConfig = config.litestreamConfig;
    try {
      recordReplicator(pidFile, ls.pid, lsConfig);
    } catch (e) {
      // Unrecorded, a later kill -9 would orphan it with nothing to stop it: do not run it at all.
      ls.kill("SIGKILL");
      throw e;
    }
    ls.once("exit", () => forgetReplicator(pidFile, ls.pid, lsConfig));
  }
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
