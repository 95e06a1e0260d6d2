/**
 * The cached-verification microbench: what CachingVerifier.verify (public API of @tkdb/client)
 * costs on a descendant of a token it has verified online, against the floor of that work, both
 * in this process on the same headers:
 *
 * - the descendant: a logged-in user's token (Organization, ValidityWindow, the login service's
 *   third-party caveat) with ValidityWindow and SecretScope appended, as attenuate-on-use makes
 *   it: 5 caveats, 2 appended; presented with its login discharge, as flyd presents it (the
 *   workload behind the "cached verification costs about 44 µs" figure). A second case appends 5;
 * - the floor: decoding the header (parseAuthorizationHeader, both tokens) and the HMAC-SHA256 of
 *   each appended caveat from the verified parent's tail, with node:crypto directly, ending in the
 *   constant-time comparison with the token's tail.
 * Each side is timed in interleaved batches; the median batch gives the cost per call.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { flyRegistry, SecretScope } from "@tkdb/caveats";
import { CachingVerifier } from "@tkdb/client";
import {
  type Caveat,
  encodeAuthorizationHeader,
  type Macaroon,
  packCaveat,
  parseAuthorizationHeader,
  ValidityWindow,
} from "@tkdb/macaroon";
import { type FlowActors, loginUser } from "../src/flow.js";

export interface CachedVerifyResult {
  caveats: number;
  appended: number;
  cachedUs: number;
  floorUs: number;
  ratio: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const yieldToLoop = () => new Promise((r) => setImmediate(r));

async function measure(
  verifier: CachingVerifier,
  parent: Macaroon,
  discharge: string,
  appended: (k: number) => Caveat[],
  batches: number,
  perBatch: number,
): Promise<CachedVerifyResult> {
  const headers: string[] = [];
  for (let k = 0; k < 64; k++) {
    const child = parent.clone();
    child.add(...appended(k));
    headers.push(`${encodeAuthorizationHeader([child])},${discharge}`);
  }
  const parentTail = Buffer.from(parent.unsafeTail());
  const n0 = parent.unsafeCaveats.length;
  const floorOnce = (h: string) => {
    const toks = parseAuthorizationHeader(h, { registry: flyRegistry });
    const first = toks[0];
    if (first?.kind !== "macaroon") throw new Error("floor: not a token");
    const m = first.macaroon;
    const cavs = m.unsafeCaveats;
    let mac: Buffer = parentTail;
    for (let i = n0; i < cavs.length; i++)
      mac = createHmac("sha256", mac)
        .update(packCaveat(cavs[i] as Caveat))
        .digest();
    if (!timingSafeEqual(mac, m.unsafeTail())) throw new Error("floor: the chain does not continue");
  };
  let errors = 0;
  const cachedOnce = async (h: string) => {
    const r = await verifier.verify(h);
    if (!r.cached) errors++;
  };
  const caveats = parseAuthorizationHeader(headers[0] as string, { registry: flyRegistry })[0];
  const total = caveats?.kind === "macaroon" ? caveats.macaroon.unsafeCaveats.length : 0;
  // Warm-up (JIT) of both sides, and a check that every descendant is a cache hit.
  for (let i = 0; i < 2_000; i++) {
    floorOnce(headers[i % 64] as string);
    await cachedOnce(headers[i % 64] as string);
  }
  if (errors > 0) throw new Error(`cached verify: ${errors} of the warm-up calls went online`);
  const floor: number[] = [];
  const cached: number[] = [];
  for (let b = 0; b < batches; b++) {
    let t = performance.now();
    for (let i = 0; i < perBatch; i++) floorOnce(headers[i % 64] as string);
    floor.push(((performance.now() - t) * 1000) / perBatch);
    await yieldToLoop();
    t = performance.now();
    for (let i = 0; i < perBatch; i++) await cachedOnce(headers[i % 64] as string);
    cached.push(((performance.now() - t) * 1000) / perBatch);
    // Let the feed poll run between batches (the loop above never yields to timers).
    await yieldToLoop();
  }
  if (errors > 0) throw new Error(`cached verify: ${errors} calls went online`);
  const cachedUs = median(cached);
  const floorUs = median(floor);
  return {
    caveats: total,
    appended: total - n0,
    cachedUs: Number(cachedUs.toFixed(2)),
    floorUs: Number(floorUs.toFixed(2)),
    ratio: Number((cachedUs / floorUs).toFixed(2)),
  };
}

/** Both cases against the stack's tkdb (one online verification of the parent, then cached). */
export async function cachedVerifyVsFloor(
  a: FlowActors,
  org: bigint,
  app: bigint,
  opts: { batches: number; perBatch: number },
): Promise<{ main: CachedVerifyResult; fiveAppended: CachedVerifyResult }> {
  const user = await loginUser(a, org, 9_999n);
  const discharge = user.header.split(",")[1] as string;
  const verifier = new CachingVerifier({ authority: a.flyd, registry: flyRegistry, pollIntervalMs: 1000 });
  verifier.start();
  try {
    await verifier.poll();
    await verifier.verify(user.header);
    const now = BigInt(Math.floor(Date.now() / 1000));
    const main = await measure(
      verifier,
      user.permission,
      discharge,
      (k) => [new ValidityWindow(now - 60n, now + 600n + BigInt(k)), new SecretScope(org, app)],
      opts.batches,
      opts.perBatch,
    );
    const fiveAppended = await measure(
      verifier,
      user.permission,
      discharge,
      (k) => [
        new ValidityWindow(now - 60n, now + 900n + BigInt(k)),
        new SecretScope(org, app),
        new ValidityWindow(now - 30n, now + 800n),
        new SecretScope(org, 0n),
        new ValidityWindow(now - 10n, now + 700n),
      ],
      opts.batches,
      opts.perBatch,
    );
    return { main, fiveAppended };
  } finally {
    verifier.stop();
  }
}
