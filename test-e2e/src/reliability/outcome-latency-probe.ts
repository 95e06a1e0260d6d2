/**
 * Issue 17 probe (not a test): per-call latency of `discharge` (tkdb) and `resolve` (petsem) at one
 * caller against a real stack (startStack), to compare the outcome awaited on disk (before) with
 * the outcome appended without waiting (after). Run: `npx tsx src/reliability/outcome-latency-probe.ts [n]`.
 * Prints median, p90 and mean in ms, and the client process's CPU time per call.
 */
import { performance } from "node:perf_hooks";
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { loginUser, one, TKDB_LOCATION, writerFor } from "../flow.js";
import { startStack } from "./stack.js";

const N = Number(process.argv[2] ?? 200);
const ORG = 4242n;
const APP = 7n;

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => (s[Math.min(s.length - 1, Math.floor(p * s.length))] as number).toFixed(2);
  const mean = (s.reduce((x, y) => x + y, 0) / s.length).toFixed(2);
  return `median ${q(0.5)} p90 ${q(0.9)} mean ${mean} (n=${s.length})`;
}

const stack = await startStack("outcome-probe");
try {
  const a = stack.actors;
  await a.admin.orgCreate(ORG);
  const user = await loginUser(a, ORG, 99n);
  const { app_version } = await a.secrets.set(writerFor(a, ORG, APP), ORG, APP, { A: "1", B: "2" });
  const ticket = a.reader.thirdPartyTickets().get(TKDB_LOCATION)?.[0];
  if (ticket === undefined) throw new Error("reader token has no tkdb caveat");
  const discharge = () => a.flyd.discharge({ ticket, userHeader: user.header, org: ORG, app: APP });
  const header = encodeAuthorizationHeader([a.reader, one(await discharge())]);
  const resolve = () => a.secrets.resolve(header, ORG, APP, app_version);
  for (let i = 0; i < 20; i++)
    await Promise.all([discharge(), resolve()].map((p) => p.then(() => undefined)));
  for (const [name, call] of [
    ["discharge", discharge],
    ["resolve", resolve],
  ] as const) {
    const ms: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      await call();
      ms.push(performance.now() - t0);
    }
    console.log(`${name}: ${stats(ms)}`);
  }
} finally {
  await stack.stop();
}
