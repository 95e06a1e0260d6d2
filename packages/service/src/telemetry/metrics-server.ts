/**
 * The metrics endpoint: GET /metrics on its own listener (host and port from the app's config;
 * 127.0.0.1 unless the deployment says otherwise, e.g. Fly's [metrics] scraper on the private
 * network). Nothing else is served there: other paths 404, other methods 405. It is a separate
 * port so the RPC listener never answers anything but HTTP/Noise.
 */
import { type Listening, listen } from "../http.js";
import type { ServiceMetrics } from "./metrics.js";

export interface MetricsServerOptions {
  host: string;
  /** 0: any free port */
  port: number;
  /** a scrape failed (answered 500 without detail) */
  onError?: (err: unknown) => void;
}

export interface MetricsServer {
  /** http://host:port/metrics */
  readonly url: string;
  readonly port: number;
  close(graceMs?: number): Promise<void>;
}

export async function startMetricsServer(
  metrics: ServiceMetrics,
  opts: MetricsServerOptions,
): Promise<MetricsServer> {
  const onError = opts.onError ?? (() => {});
  const srv: Listening = await listen(
    async (req) => {
      const path = new URL(req.url).pathname;
      if (path !== "/metrics") return new Response(null, { status: 404 });
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
      }
      try {
        const body = await metrics.text();
        return new Response(body, {
          status: 200,
          headers: { "content-type": metrics.registry.contentType, "cache-control": "no-store" },
        });
      } catch (err) {
        onError(err);
        return new Response(null, { status: 500 });
      }
    },
    {
      host: opts.host,
      port: opts.port,
      maxBodyBytes: 1024,
      maxConnections: 64,
      maxConnectionsPerAddress: 16,
      onError,
    },
  );
  return { url: `${srv.url}/metrics`, port: srv.port, close: (graceMs) => srv.close(graceMs ?? 2_000) };
}
