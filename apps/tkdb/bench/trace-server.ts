/**
 * A tkdb process for trace-overhead.ts, forked with an IPC channel: the parent sends the variables
 * `tkdb serve` would read (so OTEL_EXPORTER_OTLP_ENDPOINT switches tracing on exactly as it does in
 * production, through env.ts), this process starts tkdb on loopback and answers `{url, publicKey}`;
 * then `"cpu"` → its process.cpuUsage(), `"close"` → closes tkdb (flushing the last spans) and exits;
 * if the parent goes away without saying so, it closes and exits too.
 * Logs are discarded, the same in both configurations.
 */
import { loadConfig } from "../src/env.js";
import { startTkdb, type TkdbHandle } from "../src/server.js";

type Message = { env: Record<string, string> } | "cpu" | "close";

let handle: TkdbHandle | undefined;
let closing = false;
const send = (m: unknown) => process.send?.(m);

// The parent is gone (crashed, killed): stop too, rather than serve on as an orphan.
process.on("disconnect", () => {
  if (!closing) void (handle?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});

process.on("message", (m: Message) => {
  if (m === "cpu") send({ cpu: process.cpuUsage() });
  else if (m === "close") {
    closing = true;
    void (async () => {
      await handle?.close();
      send({ closed: true });
      process.disconnect();
    })();
  } else {
    void (async () => {
      const config = loadConfig(m.env);
      config.log = { write: () => {} };
      handle = await startTkdb(config);
      send({ url: handle.url, publicKey: Buffer.from(handle.publicKey).toString("hex") });
    })().catch((err: unknown) => {
      send({ error: String(err) });
      process.exit(1);
    });
  }
});
