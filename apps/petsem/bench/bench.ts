/**
 * petsem throughput: in-process store (native and noble crypto) and, when available, over the
 * real HTTP/Noise stack. Prints one JSON line at the end. Run: `pnpm --filter petsem bench`
 * (or `npx tsx bench/bench.ts` in apps/petsem).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlyioUserID, UserTokenNonce } from "@tkdb/caveats";
import { dischargeTicket, Macaroon, Nonce, ValidityWindow } from "@tkdb/macaroon";
import { noiseCall, resolveBackend } from "@tkdb/noise";
import { petsemCaveatKit as kit } from "../src/caveat-kit.js";
import type { BackendName } from "../src/crypto.js";
import { startPetsem } from "../src/server.js";
import { SecretStore } from "../src/store.js";

const ORG = 1n;

function time<T>(n: number, fn: (i: number) => T): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0);
  return Math.round((n / ns) * 1e9);
}

export function benchStore(backend: BackendName): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), "petsem-bench-"));
  const store = SecretStore.open({ file: join(dir, "petsem.db"), kek: randomBytes(32), backend });
  try {
    const value = randomBytes(48).toString("base64");
    const set1 = time(300, (i) => store.set({ org: ORG, app: 1n, values: { [`S${i}`]: `${value}${i}` } }));
    const batch = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`B${i}`, value]));
    const set50 = time(40, (i) =>
      store.set({
        org: ORG,
        app: 2n,
        values: Object.fromEntries(Object.keys(batch).map((k) => [k, `${value}${i}`])),
      }),
    );
    store.set({
      org: ORG,
      app: 3n,
      values: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`R${i}`, value])),
    });
    const resolve20 = time(300, () => store.resolve({ org: ORG, app: 3n, minVersion: 1 }));
    const list = time(500, () => store.list({ org: ORG, app: 2n }));
    return {
      set_1_per_s: set1,
      set_batch50_per_s: set50,
      set_batch50_secrets_per_s: set50 * 50,
      resolve_20_per_s: resolve20,
      resolve_secrets_per_s: resolve20 * 20,
      list_50_per_s: list,
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timeAsync(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return Math.round((n / Number(process.hrtime.bigint() - t0)) * 1e9);
}

/** The real stack: HTTP + Noise IK (native) + macaroon verification + store. */
export async function benchHttp(): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), "petsem-bench-"));
  const tkdb = "https://api.fly.io/v1";
  const shared = new Uint8Array(randomBytes(32));
  const petsem = await startPetsem({
    file: join(dir, "petsem.db"),
    kek: new Uint8Array(randomBytes(32)),
    noiseStaticKey: new Uint8Array(randomBytes(32)),
    tkdbSharedKey: shared,
    tkdbLocation: tkdb,
    // tkdb's revocation feed, played in-process: nothing revoked
    unsafeTestRevocationSource: { revocations: async (c) => ({ nonces: [], cursor: c ?? "0" }) },
  });
  try {
    const client = resolveBackend("native").generateKeyPair();
    const call = (op: string, args: Record<string, unknown>) =>
      noiseCall({
        url: petsem.url,
        api: "secrets",
        op,
        args,
        pattern: "IK",
        serverPublicKey: petsem.publicKey,
        clientStaticKey: client,
      });
    const writer = `FlyV1 ${petsem.authority.mintWriter()}`;
    const reader = petsem.authority.mintReader();
    const ticket = Macaroon.fromStringUnverified(reader, { registry: kit.registry })
      .thirdPartyTickets()
      .get(tkdb)?.[0];
    if (!ticket) throw new Error("no ticket");
    const { discharge } = dischargeTicket(shared, tkdb, ticket, { registry: kit.registry });
    const userNonce = Nonce.create(new Uint8Array(randomBytes(8)), false).encode();
    discharge.add(
      kit.secretScope(1n, 3n),
      ValidityWindow.fromNow(300),
      new FlyioUserID(1n),
      new UserTokenNonce(userNonce),
    );
    const readerHeader = `FlyV1 ${reader},${discharge.toString()}`;
    const value = randomBytes(48).toString("base64");
    await call("set", {
      token: writer,
      org: "1",
      app: "3",
      values: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`R${i}`, value])),
    });
    const out: Record<string, number> = {};
    for (const c of [1, 8]) {
      out[`http_set_1_c${c}_per_s`] = await timeAsync(200, c, (i) =>
        call("set", { token: writer, org: "1", app: "4", values: { [`S${i % 50}`]: `${value}${i}` } }),
      );
      out[`http_resolve_20_c${c}_per_s`] = await timeAsync(200, c, () =>
        call("resolve", { token: readerHeader, org: "1", app: "3", min_version: 1 }),
      );
    }
    out.http_health_c8_per_s = await timeAsync(300, 8, () => call("health", {}));
    return out;
  } finally {
    await petsem.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Record<string, unknown> = { node: process.version };
for (const backend of ["native", "noble"] as const) {
  results[`store_${backend}`] = benchStore(backend);
  console.log(backend, results[`store_${backend}`]);
}
results.http_noise = await benchHttp();
console.log("http/noise", results.http_noise);
console.log(JSON.stringify(results));
