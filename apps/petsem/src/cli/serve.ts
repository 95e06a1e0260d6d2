/**
 * `petsem serve`: runs the HTTP/Noise server until SIGTERM/SIGINT (ctx.signal), then closes the
 * listener, stops Litestream (final sync) and closes the database. Once listening it prints one
 * JSON line on stdout, `{"petsem": url, "noise_public_key": hex, "backup": replica|null}`: the
 * test harness and scripts/start.mjs wait for it. serve creates its database on first start.
 */
import { type CommandContext, type CommandDef, command } from "@tkdb/service";
import { startPetsem } from "../server.js";
import { petsemConfig } from "./common.js";

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

async function serveUntilStopped(ctx: CommandContext): Promise<undefined> {
  const config = petsemConfig(ctx, { requireNoiseKey: true });
  const running = await startPetsem({
    ...config,
    onFeedError: (message) => ctx.stderr.write(`petsem: ${message}\n`),
    // Litestream's warnings and errors only (its info lines are one per sync).
    onLitestreamLog: (line) => {
      if (/level=(WARN|ERROR)/.test(line)) ctx.stderr.write(`litestream: ${line}\n`);
    },
  });
  let closing = false;
  void running.replication?.exited.then((code) => {
    if (!closing)
      ctx.stderr.write(`petsem: litestream exited unexpectedly (code ${code}); backups stopped\n`);
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
  await running.close();
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
