/**
 * Verification cache benchmark against a real tkdb process on loopback.
 *
 * Workload: TOKENS permission tokens minted by tkdb; REQUESTS verifications whose token is drawn
 * with Zipf popularity (s = 1.1); most requests carry a freshly attenuated descendant (a new
 * ValidityWindow appended, as attenuate-on-use produces). Measures the caching verifier (hit ratio,
 * verifications/s, tkdb requests it caused) and, on the same requests, online verification with
 * no cache. Ends with one JSON line.
 *
 *   pnpm --filter @tkdb/client bench        (or: cd packages/client && pnpm bench)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { flyRegistry } from "@tkdb/caveats";
import { encodeAuthorizationHeader, Macaroon, ValidityWindow } from "@tkdb/macaroon";
import { resolveBackend } from "@tkdb/noise";
import { TkdbClient } from "../src/tkdb.js";
import { CachingVerifier } from "../src/verifier.js";

const TOKENS = Number(process.env.BENCH_TOKENS ?? 500);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 50_000);
const ONLINE_SAMPLE = Number(process.env.BENCH_ONLINE ?? 1_000);
const DESCENDANT_SHARE = 0.9;
const SIBLING_REQUESTS = Number(process.env.BENCH_SIBLINGS ?? 10_000);

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

function x25519() {
  return resolveBackend("native").generateKeyPair();
}

async function startTkdb(
  env: Record<string, string>,
): Promise<{ url: string; key: Uint8Array; child: ChildProcess }> {
  const child = spawn(join(root, "node_modules/.bin/tsx"), [join(root, "apps/tkdb/src/cli.ts"), "serve"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "ignore"],
  });
  let buf = "";
  return new Promise((resolve, reject) => {
    child.once("exit", (c) => reject(new Error(`tkdb exited ${c}`)));
    child.stdout?.on("data", (b: Buffer) => {
      buf += b.toString();
      // tkdb announces itself with one JSON object (pretty-printed): {url, publicKey}.
      for (const c of [buf.trim(), ...buf.split("\n").filter((l) => l.startsWith("{"))]) {
        try {
          const j = JSON.parse(c);
          const url = j.tkdb ?? j.url;
          const key = j.noise_public_key ?? j.publicKey;
          if (typeof url === "string" && typeof key === "string") {
            const k = /^[0-9a-f]{64}$/i.test(key) ? Buffer.from(key, "hex") : Buffer.from(key, "base64url");
            resolve({ url, key: new Uint8Array(k), child });
            return;
          }
        } catch {}
      }
    });
  });
}

/** Zipf(s) over ranks 1..n by inverse CDF on a precomputed table. */
function zipf(n: number, s: number, rnd: () => number): () => number {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) cdf[i] = acc += 1 / (i + 1) ** s;
  return () => {
    const u = rnd() * acc;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

let seed = 42;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "client-bench-"));
  const signer = x25519();
  const tkdbStatic = x25519();
  const tkdb = await startTkdb({
    TKDB_PORT: "0",
    TKDB_DATA_DIR: dir,
    TKDB_KEK: randomBytes(32).toString("hex"),
    TKDB_NOISE_KEY: Buffer.from(tkdbStatic.secretKey).toString("hex"),
    TKDB_SIGN_CLIENTS: Buffer.from(signer.publicKey).toString("base64url"),
  });
  try {
    const ep = [{ url: tkdb.url, serverPublicKey: tkdb.key }];
    const admin = new TkdbClient({ endpoints: ep, clientStaticKey: signer, registry: flyRegistry });
    const client = new TkdbClient({ endpoints: ep, registry: flyRegistry });
    await admin.orgCreate(1);
    const now = Math.floor(Date.now() / 1000);
    const tokens: Macaroon[] = [];
    for (let i = 0; i < TOKENS; i++) {
      const { token } = await admin.mint(1, [
        { type: "Organization", body: { id: 1, mask: "rwcdC" } },
        { type: "ValidityWindow", body: { not_before: now - 60, not_after: now + 3600 } },
      ]);
      tokens.push(Macaroon.fromStringUnverified(token, { registry: flyRegistry }));
    }
    const pick = zipf(TOKENS, 1.1, rnd);
    const descendant = (base: Macaroon, i: number) => {
      const child = base.clone();
      child.add(new ValidityWindow(BigInt(now - 60), BigInt(now + 600 + (i % 1000))));
      return encodeAuthorizationHeader([child]);
    };
    // A holder's first call presents its token as minted; later calls mostly carry a freshly
    // attenuated descendant. (A relying party never learns a parent's tail from a descendant, so a
    // descendant seen before its parent must go online: measured separately below.)
    const introduced = new Set<number>();
    const headers: string[] = [];
    const siblingsOnly: string[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const k = pick();
      const base = tokens[k] as Macaroon;
      if (!introduced.has(k)) {
        introduced.add(k);
        headers.push(encodeAuthorizationHeader([base]));
      } else headers.push(rnd() < DESCENDANT_SHARE ? descendant(base, i) : encodeAuthorizationHeader([base]));
      if (i < SIBLING_REQUESTS)
        siblingsOnly.push(rnd() < DESCENDANT_SHARE ? descendant(base, i) : encodeAuthorizationHeader([base]));
    }

    // Online: every verification is a tkdb round trip (a sample of the same requests).
    const t0 = performance.now();
    for (let i = 0; i < ONLINE_SAMPLE; i++) await client.verify(headers[i] as string);
    const onlineMs = (performance.now() - t0) / ONLINE_SAMPLE;

    // Cached: the caching verifier on all requests.
    const verifier = new CachingVerifier({ authority: client, registry: flyRegistry, pollIntervalMs: 1000 });
    await verifier.poll();
    let feedPolls = 1;
    const t1 = performance.now();
    let lastPoll = t1;
    for (const h of headers) {
      await verifier.verify(h);
      const t = performance.now();
      if (t - lastPoll > 1000) {
        await verifier.poll();
        feedPolls++;
        lastPoll = t;
      }
    }
    const cachedTotalMs = performance.now() - t1;

    // The same popularity, but descendants arrive before (or without) their parent.
    const cold = new CachingVerifier({ authority: client, registry: flyRegistry });
    await cold.poll();
    for (const h of siblingsOnly) await cold.verify(h);
    const siblingHitRatio = cold.stats.hits / siblingsOnly.length;
    const cachedMs = cachedTotalMs / REQUESTS;
    const hitRatio = verifier.stats.hits / REQUESTS;
    const tkdbRequests = verifier.stats.online + feedPolls;
    const out = {
      bench: "@tkdb/client",
      node: process.version,
      tokens: TOKENS,
      requests: REQUESTS,
      descendant_share: DESCENDANT_SHARE,
      hit_ratio: Number(hitRatio.toFixed(4)),
      hit_ratio_descendants_before_parent: Number(siblingHitRatio.toFixed(4)),
      online_verify_ms: Number(onlineMs.toFixed(3)),
      cached_verify_ms: Number(cachedMs.toFixed(4)),
      cached_verifications_per_s: Math.round(REQUESTS / (cachedTotalMs / 1000)),
      online_verifications_per_s: Math.round(1000 / onlineMs),
      cached_vs_online_speedup: Number((onlineMs / cachedMs).toFixed(1)),
      tkdb_requests: tkdbRequests,
      tkdb_requests_per_1000_verifications: Number(((tkdbRequests / REQUESTS) * 1000).toFixed(2)),
      tkdb_rps_at_this_client_load: Number((tkdbRequests / (cachedTotalMs / 1000)).toFixed(1)),
    };
    console.log(
      `hit ratio ${out.hit_ratio}, cached ${out.cached_verify_ms} ms vs online ${out.online_verify_ms} ms`,
    );
    console.log(JSON.stringify(out));
  } finally {
    tkdb.child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
