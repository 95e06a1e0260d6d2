/**
 * Trace overhead per RPC (issue 14, "Traces end to end"): two tkdb processes side by side, started
 * from the same variables except that one has OTEL_EXPORTER_OTLP_ENDPOINT naming an OTLP/HTTP
 * receiver on loopback (this process: it accepts every export and counts the spans). The same
 * workload, `verify` of one token over HTTP/Noise in a forward-secret session, runs against each in
 * alternating rounds (off, on, on, off, …) so that a change in the machine's load hits both alike:
 * serially (one caller) and at 8 concurrent callers.
 *
 * Per configuration and round: wall time per RPC, and the server's CPU time per RPC (its
 * process.cpuUsage() delta over the round / RPCs; on a shared machine this is the steadier figure).
 * Each figure is the median over rounds; ratios are tracing on over off (> 1: tracing costs that
 * much). The spans the receiver counted are reported beside the RPCs made: a dropped span would
 * make tracing look cheaper than it is.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { type Callers, drive, newKeys, serveEnvFor, sessions } from "./fixture.js";

const here = dirname(fileURLToPath(import.meta.url));

/** An OTLP/HTTP traces receiver on loopback that counts the spans it is sent (JSON encoding). */
async function startReceiver() {
  let spans = 0;
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") return void res.writeHead(404).end();
      requests++;
      const raw = Buffer.concat(chunks);
      const body = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
      try {
        const j = JSON.parse(body.toString("utf8")) as {
          resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[];
        };
        for (const rs of j.resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
      } catch {}
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ spans, requests }),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

interface Served {
  child: ChildProcess;
  callers: Callers;
  header: string;
  cpuUs(): Promise<number>;
  close(): Promise<void>;
  dir: string;
}

function reply<T>(child: ChildProcess, pick: (m: Record<string, unknown>) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>) => {
      if (typeof m.error === "string") return done(() => reject(new Error(m.error as string)));
      const v = pick(m);
      if (v !== undefined) done(() => resolve(v));
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(() => reject(new Error(`tkdb exited ${code ?? signal}`)));
    const done = (f: () => void) => {
      child.off("message", onMessage);
      child.off("exit", onExit);
      f();
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

async function serve(otel: Record<string, string>): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), "tkdb-bench-trace-"));
  const keys = newKeys();
  const child = fork(join(here, "trace-server.ts"), [], {
    cwd: join(here, ".."),
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  child.on("error", (err) => console.error(`tkdb bench: trace server: ${err.message}`));
  const started = reply(child, (m) => (typeof m.url === "string" ? m : undefined));
  child.send({ env: serveEnvFor(keys, dir, otel) });
  const { url, publicKey } = (await started) as { url: string; publicKey: string };
  const callers = sessions(url, new Uint8Array(Buffer.from(publicKey, "hex")), keys);
  await callers.sign("org_create", { org: "1" });
  const { token } = await callers.sign<{ token: string }>("mint", {
    org: "1",
    caveats: [{ type: "Organization", body: { id: 1, mask: "rwcdC" } }],
  });
  let closed = false;
  return {
    child,
    callers,
    header: `FlyV1 ${token}`,
    dir,
    async cpuUs() {
      const r = reply(child, (m) => m.cpu as { user: number; system: number } | undefined);
      child.send("cpu");
      const { user, system } = await r;
      return user + system;
    },
    async close() {
      if (closed) return;
      closed = true;
      callers.close();
      if (child.connected) {
        const r = reply(child, (m) => (m.closed === true ? true : undefined));
        child.send("close");
        await r;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Round {
  wall_us: number;
  server_cpu_us: number;
}

async function round(s: Served, n: number, callers: number): Promise<Round> {
  const cpu0 = await s.cpuUs();
  const ms = await drive(n, callers, () => s.callers.verify("verify", { header: s.header }));
  const cpu1 = await s.cpuUs();
  return { wall_us: (ms * 1000) / n, server_cpu_us: (cpu1 - cpu0) / n };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Both servers through `rounds` alternating rounds of serial and 8-caller verify. */
export async function traceOverhead(opts: { serial: number; concurrent: number; rounds: number }) {
  const receiver = await startReceiver();
  const off = await serve({});
  // The exporter's defaults otherwise (batches of up to 512 spans, every 5 s at most).
  const on = await serve({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
  try {
    const warmUp = 200;
    for (const s of [off, on]) await drive(warmUp, 8, () => s.callers.verify("verify", { header: s.header }));
    const runs = {
      off: { serial: [] as Round[], c8: [] as Round[] },
      on: { serial: [] as Round[], c8: [] as Round[] },
    };
    let rpcsOn = 2 + warmUp; // org_create, mint, the warm-up
    for (let i = 0; i < opts.rounds; i++) {
      // off, on, on, off, off, on, …: neither goes first every time.
      const order = [["off", off] as const, ["on", on] as const];
      if (i % 2 === 1) order.reverse();
      for (const [name, s] of order) {
        runs[name].serial.push(await round(s, opts.serial, 1));
        runs[name].c8.push(await round(s, opts.concurrent, 8));
        if (name === "on") rpcsOn += opts.serial + opts.concurrent;
      }
    }
    await on.close(); // flushes the last spans
    const { spans } = receiver.counts();
    const fig = (rs: Round[]) => ({
      wall_us: Math.round(median(rs.map((r) => r.wall_us))),
      server_cpu_us: Math.round(median(rs.map((r) => r.server_cpu_us))),
    });
    const f = {
      off: { serial: fig(runs.off.serial), c8: fig(runs.off.c8) },
      on: { serial: fig(runs.on.serial), c8: fig(runs.on.c8) },
    };
    const ratio = (a: number, b: number) => r3(a / b);
    return {
      rounds: opts.rounds,
      serial_rpcs_per_round: opts.serial,
      c8_rpcs_per_round: opts.concurrent,
      off: f.off,
      on: f.on,
      wall_ratio_serial: ratio(f.on.serial.wall_us, f.off.serial.wall_us),
      wall_ratio_c8: ratio(f.on.c8.wall_us, f.off.c8.wall_us),
      server_cpu_ratio_serial: ratio(f.on.serial.server_cpu_us, f.off.serial.server_cpu_us),
      server_cpu_ratio_c8: ratio(f.on.c8.server_cpu_us, f.off.c8.server_cpu_us),
      spans_exported: spans,
      rpcs_traced: rpcsOn,
      spans_per_rpc: r2(spans / rpcsOn),
    };
  } finally {
    await on.close().catch(() => {});
    await off.close().catch(() => {});
    for (const s of [on, off]) if (s.child.exitCode === null) s.child.kill();
    await receiver.close();
  }
}
