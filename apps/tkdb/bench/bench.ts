/**
 * verify and mint throughput over HTTP/Noise on loopback, tkdb in-process.
 * Run: pnpm --filter tkdb bench   (or `npx tsx bench/bench.ts` in apps/tkdb)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getNative, noiseCall } from "@tkdb/noise";
import { randomBytes } from "../src/crypto.js";
import { AUTH_LOCATION, DEFAULT_LOCATION } from "../src/env.js";
import { startTkdb } from "../src/server.js";

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
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await fn();
    }),
  );
  const s = (performance.now() - t0) / 1000;
  return { [`${name}_per_s`]: Math.round(n / s) };
}

const results = {
  ...(await run("verify", 2000, 8, () => verify("verify", { header }))),
  ...(await run("mint", 1000, 8, () => sign("mint", { org: "1", caveats }))),
  ...(await run("verify_serial", 1000, 1, () => verify("verify", { header }))),
};
await h.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ bench: "tkdb", node: process.version, ...results }));
