/**
 * autocannon in its own process (forked by autocannon.ts): receives its options over IPC (so no
 * credential is on a command line), runs a warm-up then the measured run, and answers a summary.
 */
const autocannon = require("autocannon");

process.once("message", async (o) => {
  try {
    const r = await autocannon({
      url: o.url,
      method: o.method,
      headers: o.headers,
      body: o.body,
      connections: o.connections,
      duration: o.seconds,
      pipelining: 1,
      warmup: { connections: o.connections, duration: o.warmupSeconds },
    });
    process.send({
      type: "result",
      total: r.requests.total,
      seconds: r.duration,
      average: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      version: require("autocannon/package.json").version,
    });
  } catch (e) {
    process.send({ type: "failed", message: String(e?.message) });
  }
});
process.on("disconnect", () => process.exit(0));
