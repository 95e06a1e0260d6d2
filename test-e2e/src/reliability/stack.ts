/**
 * The whole system on loopback for the reliability suite: tkdb and petsem as real processes with
 * fresh keys and data folders, the clients each actor holds, and the tokens the boot flow needs.
 * `RELIABILITY_LONG=1` turns every bounded run of the suite into its long version.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import { PetsemClient, TkdbClient } from "@tkdb/client";
import { AUTH_LOCATION, type FlowActors, one, TKDB_LOCATION } from "../flow.js";
import { cli, hex, key32, type RunningService, startService, tempDir, x25519 } from "../harness.js";

/** Long runs (soak) behind a flag; CI runs the short version. */
export const LONG = process.env.RELIABILITY_LONG === "1";

export interface StackKeys {
  tkdbKek: string;
  petsemKek: string;
  tkdbNoise: { secretKey: Uint8Array; publicKey: Uint8Array };
  petsemNoise: { secretKey: Uint8Array; publicKey: Uint8Array };
  signer: { secretKey: Uint8Array; publicKey: Uint8Array };
  petsemShared: Uint8Array;
  auth: Uint8Array;
}

export interface Stack {
  dir: string;
  keys: StackKeys;
  tkdbEnv: Record<string, string>;
  petsemEnv: Record<string, string>;
  tkdb: RunningService;
  petsem: RunningService;
  actors: FlowActors;
  /** Restarts one service on the same data folder and keys (after a kill, say); clients follow. */
  restart(name: "tkdb" | "petsem"): Promise<RunningService>;
  /** Stops both services and removes the data folder. */
  stop(): Promise<void>;
}

export function newKeys(): StackKeys {
  return {
    tkdbKek: hex(key32()),
    petsemKek: hex(key32()),
    tkdbNoise: x25519(),
    petsemNoise: x25519(),
    signer: x25519(),
    petsemShared: key32(),
    auth: key32(),
  };
}

/**
 * Both services' environments. petsem follows tkdb's revocation feed (PETSEM_TKDB_URL and
 * PETSEM_TKDB_PUBLIC_KEY are required to serve with a shared key): pass tkdb's URL once it is
 * known; until then the URL names a closed port, so a petsem started alone serves writes and
 * refuses resolve with `unavailable`.
 */
export function stackEnvs(dir: string, keys: StackKeys, tkdbUrl = "http://127.0.0.1:9") {
  const tkdbEnv: Record<string, string> = {
    TKDB_HOST: "127.0.0.1",
    TKDB_PORT: "0",
    TKDB_DATA_DIR: join(dir, "tkdb"),
    TKDB_KEK: keys.tkdbKek,
    TKDB_NOISE_KEY: hex(keys.tkdbNoise.secretKey),
    TKDB_SIGN_CLIENTS: hex(keys.signer.publicKey),
    TKDB_TP_KEYS: `${TKDB_LOCATION}=${hex(keys.petsemShared)},${AUTH_LOCATION}=${hex(keys.auth)}`,
  };
  const petsemEnv: Record<string, string> = {
    PETSEM_HOST: "127.0.0.1",
    PETSEM_PORT: "0",
    PETSEM_DATA_DIR: join(dir, "petsem"),
    PETSEM_KEK: keys.petsemKek,
    PETSEM_NOISE_KEY: hex(keys.petsemNoise.secretKey),
    PETSEM_TKDB_SHARED_KEY: hex(keys.petsemShared),
    PETSEM_TKDB_LOCATION: TKDB_LOCATION,
    PETSEM_TKDB_URL: tkdbUrl,
    PETSEM_TKDB_PUBLIC_KEY: hex(keys.tkdbNoise.publicKey),
    // a restarted tkdb is heard again within a second
    PETSEM_TKDB_FEED_POLL_MS: "1000",
  };
  return { tkdbEnv, petsemEnv };
}

/** `extraEnv`: settings a test needs on top of the stack's (e.g. a short feed poll interval). */
export async function startStack(
  prefix = "reliability",
  extraEnv: { tkdb?: Record<string, string>; petsem?: Record<string, string> } = {},
): Promise<Stack> {
  const tmp = tempDir(prefix);
  const keys = newKeys();
  const envs = stackEnvs(tmp.path, keys);
  const tkdbEnv = { ...envs.tkdbEnv, ...extraEnv.tkdb };
  const petsemEnv = { ...envs.petsemEnv, ...extraEnv.petsem };
  const running: { tkdb?: RunningService; petsem?: RunningService } = {};
  try {
    running.tkdb = await startService("tkdb", tkdbEnv);
    // petsem starts after tkdb and follows its revocation feed; a restarted tkdb keeps its port.
    tkdbEnv.TKDB_PORT = new URL(running.tkdb.url).port;
    petsemEnv.PETSEM_TKDB_URL = running.tkdb.url;
    running.petsem = await startService("petsem", petsemEnv);
  } catch (e) {
    await running.tkdb?.stop();
    tmp.remove();
    throw e;
  }
  const clients = () => {
    const t = running.tkdb as RunningService;
    const p = running.petsem as RunningService;
    const tkdbEp = [{ url: t.url, serverPublicKey: t.publicKey }];
    return {
      admin: new TkdbClient({ endpoints: tkdbEp, clientStaticKey: keys.signer, registry: flyRegistry }),
      flyd: new TkdbClient({ endpoints: tkdbEp, registry: flyRegistry }),
      secrets: new PetsemClient({ endpoints: [{ url: p.url, serverPublicKey: p.publicKey }] }),
    };
  };
  let actors: FlowActors;
  try {
    const w = await cli("petsem", ["token", "mint", "--writer"], petsemEnv);
    const r = await cli("petsem", ["token", "mint", "--reader"], petsemEnv);
    if (w.code !== 0 || r.code !== 0) throw new Error(`petsem token mint failed: ${w.stderr}${r.stderr}`);
    actors = { ...clients(), authKey: keys.auth, writer: w.stdout.trim(), reader: one(r.stdout.trim()) };
  } catch (e) {
    // The caller never gets a stack to stop: stop what was started here.
    await Promise.all([running.tkdb?.stop(), running.petsem?.stop()]);
    tmp.remove();
    throw e;
  }
  const stack: Stack = {
    dir: tmp.path,
    keys,
    tkdbEnv,
    petsemEnv,
    get tkdb() {
      return running.tkdb as RunningService;
    },
    get petsem() {
      return running.petsem as RunningService;
    },
    actors,
    async restart(name) {
      await running[name]?.stop("SIGKILL");
      running[name] = await startService(name, name === "tkdb" ? tkdbEnv : petsemEnv);
      Object.assign(actors, clients());
      return running[name] as RunningService;
    },
    async stop() {
      await Promise.all([running.tkdb?.stop(), running.petsem?.stop()]);
      tmp.remove();
    },
  };
  return stack;
}

/**
 * What a process is doing, for a failure report: its state (R running, S sleeping, D waiting on
 * the disk, Z gone), the kernel function it waits in, and its CPU time so far.
 */
export function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const wchan = readFileSync(`/proc/${pid}/wchan`, "utf8");
    return `state ${f[0]} wchan ${wchan || "-"} utime ${f[11]} stime ${f[12]} (ticks)`;
  } catch {
    return "gone";
  }
}

/** Resident memory of a live process in bytes (Linux /proc), for "memory stays bounded" checks. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}
