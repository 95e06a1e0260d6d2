/**
 * tkdb over HTTP/Noise on loopback. Run: pnpm --filter tkdb bench (or `npx tsx bench/bench.ts` in
 * apps/tkdb); BENCH_QUICK=1 for a short smoke run. Ends with one JSON line whose `performance`
 * object `npm run bench` merges into docs/performance.json.
 *
 * 1. verify and mint throughput, tkdb in-process, one-shot calls (a handshake per call).
 * 2. Database bytes per 100 000 discharges and per 1 000 revocations (db-bytes.ts).
 * 3. Trace overhead per RPC: tracing on (OTLP/HTTP to a loopback receiver) over off, two tkdb
 *    processes in alternating rounds (trace-overhead.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getNative, noiseCall } from "@tkdb/noise";
import { randomBytes } from "../src/crypto.js";
import { AUTH_LOCATION, DEFAULT_LOCATION } from "../src/env.js";
import { startTkdb } from "../src/server.js";
import { dbBytes } from "./db-bytes.js";
import { QUICK } from "./fixture.js";
import { traceOverhead } from "./trace-overhead.js";

const t0 = performance.now();
const scale = QUICK ? 0.1 : 1;

async function throughput() {
  const nc = getNative()!;
  const dir = mkdtempSync(join(tmpdir(), "tkdb-bench-"));
  const client = nc.generateKeyPair();
  const h = await startTkdb({
    host: "127.0.0.1",
    port: 0,
    dbPath: join(dir, "tkdb.db"),
    noiseSecretKey: nc.generateKeyPair().secretKey,
    kek: randomBytes(32),
    signClients: [client.publicKey],
    location: DEFAULT_LOCATION,
    authLocation: AUTH_LOCATION,
    dischargeTtl: 60,
    thirdPartyKeys: new Map(),
    log: { write: () => {} },
  });
  const base = { url: h.url, serverPublicKey: h.publicKey };
  const sign = <T>(op: string, args: Record<string, unknown>) =>
    noiseCall<T>({ ...base, api: "sign", op, args, pattern: "KK", clientStaticKey: client });
  const verify = <T>(op: string, args: Record<string, unknown>) =>
    noiseCall<T>({ ...base, api: "verify", op, args, pattern: "IK", clientStaticKey: client });

  await sign("org_create", { org: "1" });
  const caveats = [{ type: "Organization", body: { id: 1, mask: "rwcdC" } }];
  const { token } = await sign<{ token: string }>("mint", { org: "1", caveats });
  const header = `FlyV1 ${token}`;

  async function run(name: string, n: number, concurrency: number, fn: () => Promise<unknown>) {
    for (let i = 0; i < 50; i++) await fn(); // warm-up
    let left = n;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) await fn();
      }),
    );
    const s = (performance.now() - t) / 1000;
    return { [`${name}_per_s`]: Math.round(n / s) };
  }

  try {
    return {
      ...(await run("verify", 2000 * scale, 8, () => verify("verify", { header }))),
      ...(await run("mint", 1000 * scale, 8, () => sign("mint", { org: "1", caveats }))),
      ...(await run("verify_serial", 1000 * scale, 1, () => verify("verify", { header }))),
    };
  } finally {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const stage = (name: string) =>
  console.error(`tkdb bench: ${name} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
stage("verify and mint throughput");
const results = await throughput();
stage("database bytes per discharge and revocation");
const bytes = await dbBytes(QUICK ? 200 : 2000, QUICK ? 50 : 1000);
stage("trace overhead");
const trace = await traceOverhead(
  QUICK ? { serial: 100, concurrent: 300, rounds: 1 } : { serial: 500, concurrent: 1500, rounds: 3 },
);
stage("done");
console.log(
  JSON.stringify({
    bench: "tkdb",
    node: process.version,
    quick: QUICK,
    ...results,
    db_bytes: { discharges: bytes.discharges, revocations: bytes.revocations },
    trace_overhead: trace,
    seconds: Math.round((performance.now() - t0) / 1000),
    performance: {
      ...bytes.performance,
      // Server CPU time per verify RPC at 8 callers, tracing on over off (> 1: overhead); the
      // wall-time ratios beside it are the same runs' time per RPC seen by the callers.
      trace_overhead_ratio: trace.server_cpu_ratio_c8,
      trace_overhead_wall_ratio_serial: trace.wall_ratio_serial,
      trace_overhead_wall_ratio_c8: trace.wall_ratio_c8,
    },
  }),
);
