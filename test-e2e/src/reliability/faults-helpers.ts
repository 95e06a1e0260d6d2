/**
 * Small tools for the fault-injection tests: a seeded random source (the seed is printed so a
 * failing kill point can be replayed with FAULTS_SEED), bounded clients whose calls end when the
 * service dies, waiting on a condition, and finding the children of a service (its Litestream).
 */
import { readdirSync, readFileSync } from "node:fs";
import { flyRegistry } from "@tkdb/caveats";
import { PetsemClient, TkdbClient } from "@tkdb/client";
import { encodeAuthorizationHeader } from "@tkdb/macaroon";
import { one } from "../flow.js";
import type { RunningService } from "../harness.js";

/** mulberry32: a tiny seeded PRNG, enough to replay kill points. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The run's base seed: FAULTS_SEED if set (to replay a failure), else random. */
export function baseSeed(): number {
  const s = process.env.FAULTS_SEED;
  return s !== undefined && /^\d+$/.test(s) ? Number(s) >>> 0 : Math.floor(Math.random() * 2 ** 32);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until `cond` holds, polling; throws after `timeoutMs` (a liveness bound, not a timing claim). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** One attempt per call, short per-attempt timeout: a call in flight when the service dies ends. */
const BOUNDED = { retry: { attempts: 1 }, timeoutMs: 3_000 } as const;

export function boundedAdmin(tkdb: RunningService, signer: { secretKey: Uint8Array; publicKey: Uint8Array }) {
  return new TkdbClient({
    endpoints: [{ url: tkdb.url, serverPublicKey: tkdb.publicKey }],
    clientStaticKey: signer,
    registry: flyRegistry,
    ...BOUNDED,
  });
}

export function boundedVerifier(tkdb: RunningService) {
  return new TkdbClient({
    endpoints: [{ url: tkdb.url, serverPublicKey: tkdb.publicKey }],
    registry: flyRegistry,
    ...BOUNDED,
  });
}

export function boundedSecrets(petsem: RunningService) {
  return new PetsemClient({
    endpoints: [{ url: petsem.url, serverPublicKey: petsem.publicKey }],
    ...BOUNDED,
  });
}

/** A minted token string as a `FlyV1` header. */
export const header = (token: string) => encodeAuthorizationHeader([one(token)]);

/** Direct children of a process (Linux /proc), e.g. the Litestream a service spawned. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const s = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (s) out.push(...s.split(/\s+/).map(Number));
    }
  } catch {
    // the process is gone
  }
  return [...new Set(out)];
}

/** Whether a process runs (a zombie, dead but not yet reaped by its new parent, does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** SIGKILLs a service process and waits until it is reaped. */
export async function kill9(s: RunningService): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => s.child.once("exit", () => r()));
  s.child.kill("SIGKILL");
  await gone;
}

/** The error code of a refused or failed call (NoiseRemoteError / ClientError both carry one). */
export function codeOf(e: unknown): string {
  const c = (e as { code?: unknown })?.code;
  return typeof c === "string" ? c : String(e);
}
