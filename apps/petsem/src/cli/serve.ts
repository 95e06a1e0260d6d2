/**
 * `petsem serve`: runs the HTTP/Noise server until SIGTERM/SIGINT (ctx.signal), then closes the
 * listener, stops Litestream (final sync) and closes the database. Once listening it prints one
 * JSON line on stdout, `{"petsem": url, "noise_public_key": hex, "backup": replica|null}`: the
 * test harness and scripts/start.mjs wait for it. serve creates its database on first start.
 */
import {
  batchedStream,
  type CommandContext,
  type CommandDef,
  command,
  createLogger,
  listenRefusal,
} from "@tkdb/service";
import { startPetsem } from "../server.js";
import { petsemConfig } from "./common.js";

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

async function serveUntilStopped(ctx: CommandContext): Promise<undefined> {
  const config = petsemConfig(ctx, { requireNoiseKey: true });
  // The same JSON-lines log as tkdb serve (@tkdb/service: redacting, one `rpc` line per call).
  const log = createLogger({
    stream: batchedStream(ctx.stderr),
    base: { service: "petsem" },
    publicFields: ["clientKey"],
  }).log;
  const running = await startPetsem({
    ...config,
    log,
    onFeedError: (message) => log("warn", "tkdb feed", { reason: message }),
    onTelemetryError: (message) => log("warn", message),
    // Litestream's warnings and errors only (its info lines are one per sync).
    onLitestreamLog: (line) => {
      const level = /level=ERROR|panic:/.test(line) ? "error" : /level=WARN/.test(line) ? "warn" : undefined;
      if (level !== undefined) log(level, "litestream", { line });
    },
  }).catch((e: unknown) => {
    throw listenRefusal(e, {
      app: "petsem",
      host: config.host,
      port: config.port,
      hostVar: "PETSEM_HOST",
      portVar: "PETSEM_PORT",
    });
  });
  let closing = false;
  void running.replication?.exited.then((code) => {
    if (!closing) log("error", "litestream exited unexpectedly; backups stopped", { exitCode: code });
  });
  ctx.stdout.write(
    `${JSON.stringify({
      petsem: running.url,
      noise_public_key: Buffer.from(running.publicKey).toString("hex"),
      backup: config.litestream === null ? null : config.litestream.replica,
    })}\n`,
  );
  await aborted(ctx.signal);
  closing = true;
  log("info", "petsem stopping");
  await running.close();
  log("info", "petsem stopped");
  return undefined;
}

export const serve: CommandDef<undefined> = command({
  name: "serve",
  description: "run the HTTP/Noise server (127.0.0.1:7402 by default) until SIGTERM or SIGINT",
  examples: [
    "PETSEM_KEK_FILE=data/keys/petsem.kek PETSEM_NOISE_KEY_FILE=data/keys/petsem.noise petsem serve",
  ],
  run: serveUntilStopped,
});
