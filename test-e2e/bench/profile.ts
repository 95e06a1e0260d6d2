/**
 * Per-RPC cost breakdown from V8 CPU profiles of the service processes during one load run
 * (profile-preload.mjs toggles the profiler by SIGUSR2, so start-up and setup are not in it).
 *
 * Each sample's CPU time goes to one category, decided by its stack:
 * - `audit` if the innermost frame of the project's own code (apps/, packages/; not node_modules,
 *   not the shared canonical-JSON helper) is audit code: @tkdb/audit's writer, chain and event
 *   checks, or an app's audit module building an event. What those frames call (SHA-256, JSON,
 *   fs writes and fdatasync callbacks) counts as audit too. An op that merely runs *inside* an
 *   audit wrapper (petsem's audit-log.ts, tkdb's audited.ts) is not audit: its innermost own frame
 *   is the store, the RPC or the token code, and the sample goes to that;
 * - `handshake` if any frame is the Noise handshake (HandshakeState, SymmetricState: X25519,
 *   BLAKE2s, HKDF; a session open, or a per-request call);
 * - otherwise the innermost frame that names a component decides, walking from the leaf up:
 *   `noise` (packages/noise outside the handshake: ChaCha20-Poly1305 of every session message,
 *   framing, the session table), `database` (better-sqlite3, drizzle-orm, and the apps' store
 *   code, whose prepared statements call better-sqlite3's native methods), `HTTP` (node:http, net, streams, undici's
 *   Request/Response, hono, @hono/node-server), `JSON` (JSON.parse/stringify builtins),
 *   `observability` (OpenTelemetry, prom-client), then `crypto` (node:crypto reached from
 *   packages/macaroon, packages/caveats or the app: HMACs, sealing), `macaroon` (decoding and
 *   caveat code without crypto) and `service` (the app's own code);
 * - V8's own entries: `gc`, and `other` for the rest (event loop, timers, runtime).
 * Idle time is left out. The table this gives is CPU per RPC (µs) and the share of busy time.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

export const CATEGORIES = [
  "handshake",
  "noise",
  "crypto",
  "macaroon",
  "HTTP",
  "JSON",
  "database",
  "audit",
  "observability",
  "service",
  "gc",
  "other",
] as const;
export type Category = (typeof CATEGORIES)[number];

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Breakdown {
  /** CPU time the process was busy during the run, ms. */
  busyMs: number;
  /** Busy CPU per RPC, µs. */
  perRpcUs: number;
  /** Per category: µs of CPU per RPC. */
  us: Record<Category, number>;
  /** Per category: share of busy time. */
  share: Record<Category, number>;
  /** The functions with the most self time. */
  top: { fn: string; where: string; category: Category; ms: number }[];
}

/**
 * Audit code: @tkdb/audit (but not its idempotency records, which are database work of the
 * mutation, nor canonical.ts, shared with them), an app's audit module (`audit.ts`, `audit-log.ts`
 * or an `audit/` folder: the wrappers that build events; tkdb's `audited.ts` is only a wrapper),
 * and the old in-database writers by name.
 */
const AUDIT_URL = /\/(apps\/(tkdb|petsem)\/src\/audit(\.ts|-log\.ts|\/)|packages\/audit\/)/;
const AUDIT_EXCLUDED = /\/packages\/audit\/src\/idempotency\./;
const AUDIT_FN = new Set(["appendAudit", "auditHash"]);
const isAudit = (f: CallFrame) =>
  (AUDIT_URL.test(f.url) && !AUDIT_EXCLUDED.test(f.url)) || AUDIT_FN.has(f.functionName);
/** The project's own code (a frame that can say whose work a sample is), outside node_modules. */
const OWN_URL = /\/(apps|packages)\/[^/]+\/(src|bench)\//;
const NEUTRAL_URL = /\/packages\/audit\/src\/canonical\./;
const isOwn = (f: CallFrame) =>
  OWN_URL.test(f.url) && !f.url.includes("/node_modules/") && !NEUTRAL_URL.test(f.url);
/** Whether the innermost own frame (from the leaf up) is audit code. */
function inAudit(stack: CallFrame[]): boolean {
  for (const f of stack) {
    if (AUDIT_FN.has(f.functionName)) return true;
    if (isOwn(f)) return isAudit(f);
  }
  return false;
}
const CRYPTO_FRAME = /^node:internal\/crypto\//;
const HANDSHAKE_URL = /\/packages\/noise\/src\/(handshake-state|symmetric-state)\./;

/** What a frame says about its sample, or undefined when it leaves the decision to its callers. */
function frameCategory(f: CallFrame): Category | "crypto-call" | undefined {
  const u = f.url;
  if (u === "") {
    if (f.functionName === "(garbage collector)") return "gc";
    if (f.functionName === "(program)") return "other";
    if (f.functionName === "parse" || f.functionName === "stringify") return "JSON";
    return undefined;
  }
  if (CRYPTO_FRAME.test(u)) return "crypto-call";
  if (u.includes("/packages/noise/") || u.includes("/@noble/curves/") || u.includes("/@noble/ciphers/"))
    return "noise";
  if (
    u.includes("/better-sqlite3/") ||
    u.includes("/drizzle-orm/") ||
    /\/apps\/(tkdb|petsem)\/src\/(store|db)[./]/.test(u)
  )
    return "database";
  if (u.includes("/@opentelemetry/") || u.includes("/prom-client/")) return "observability";
  if (
    u.includes("/hono/") ||
    u.includes("/@hono/") ||
    /^node:(_http|http|net|stream|internal\/(deps\/undici|webstreams|streams|http|stream_base|url))/.test(u)
  )
    return "HTTP";
  if (u.includes("/packages/macaroon/") || u.includes("/packages/caveats/") || u.includes("/@noble/hashes/"))
    return "macaroon";
  if (/\/apps\/(tkdb|petsem)\/src\/crypto/.test(u)) return "crypto";
  if (/\/(apps\/(tkdb|petsem)\/src|packages\/service)\//.test(u)) return "service";
  return undefined;
}

function classify(stack: CallFrame[]): Category {
  if (inAudit(stack)) return "audit";
  if (stack.some((f) => HANDSHAKE_URL.test(f.url))) return "handshake";
  let viaCrypto = false;
  for (const f of stack) {
    const c = frameCategory(f);
    if (c === undefined) continue;
    if (c === "crypto-call") {
      viaCrypto = true;
      continue;
    }
    if (viaCrypto && (c === "macaroon" || c === "service")) return "crypto";
    return c;
  }
  return viaCrypto ? "crypto" : "other";
}

const short = (url: string) =>
  url.replace(/^file:\/\/.*?\/(node_modules\/\.pnpm\/[^/]+\/node_modules\/)?/, "");

export function attribute(profile: CpuProfile, rpcs: number): Breakdown {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const catOf = new Map<number, Category | "idle">();
  const category = (id: number): Category | "idle" => {
    let c = catOf.get(id);
    if (c !== undefined) return c;
    const leaf = byId.get(id) as ProfileNode;
    if (leaf.callFrame.functionName === "(idle)") c = "idle";
    else {
      const stack: CallFrame[] = [];
      for (let k: number | undefined = id; k !== undefined; k = parent.get(k))
        stack.push((byId.get(k) as ProfileNode).callFrame);
      c = classify(stack);
    }
    catOf.set(id, c);
    return c;
  };
  const us = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const self = new Map<number, number>();
  let busy = 0;
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    // A sample stands for the time until the next one.
    const dt = i + 1 < n ? (profile.timeDeltas[i + 1] as number) : 0;
    const id = profile.samples[i] as number;
    const c = category(id);
    if (c === "idle") continue;
    us[c] += dt;
    busy += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const perRpc = (x: number) => Number((x / Math.max(1, rpcs)).toFixed(1));
  const bySelf = new Map<string, { fn: string; where: string; category: Category; ms: number }>();
  for (const [id, t] of self) {
    const f = (byId.get(id) as ProfileNode).callFrame;
    const where = f.url ? `${short(f.url)}:${f.lineNumber + 1}` : "(native)";
    const k = `${f.functionName} ${where}`;
    const e = bySelf.get(k) ?? {
      fn: f.functionName || "(anonymous)",
      where,
      category: category(id) as Category,
      ms: 0,
    };
    e.ms += t / 1000;
    bySelf.set(k, e);
  }
  return {
    busyMs: Number((busy / 1000).toFixed(3)),
    perRpcUs: perRpc(busy),
    us: Object.fromEntries(CATEGORIES.map((c) => [c, perRpc(us[c])])) as Record<Category, number>,
    share: Object.fromEntries(
      CATEGORIES.map((c) => [c, Number((us[c] / Math.max(1, busy)).toFixed(3))]),
    ) as Record<Category, number>,
    top: [...bySelf.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 12)
      .map((e) => ({ ...e, ms: Number(e.ms.toFixed(1)) })),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(path: () => string | undefined, what: string, timeoutMs = 30_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const p = path();
    if (p !== undefined) return p;
    if (Date.now() > end) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * A profiler over processes started with profile-preload.mjs: `start()` returns once every one is
 * sampling, `stop()` returns each one's profile of the time between.
 */
export function profiler(dir: string, pids: number[]) {
  let before = new Set<string>();
  return {
    async start(): Promise<void> {
      before = new Set(readdirSync(dir));
      for (const pid of pids) {
        rmSync(join(dir, `${pid}.started`), { force: true });
        process.kill(pid, "SIGUSR2");
      }
      for (const pid of pids) {
        const f = join(dir, `${pid}.started`);
        await waitFor(() => (existsSync(f) ? f : undefined), `profiler start in ${pid}`);
      }
    },
    async stop(): Promise<Map<number, CpuProfile>> {
      for (const pid of pids) process.kill(pid, "SIGUSR2");
      const profiles = new Map<number, CpuProfile>();
      for (const pid of pids) {
        const file = await waitFor(
          () =>
            readdirSync(dir).find(
              (f) => f.startsWith(`${pid}-`) && f.endsWith(".cpuprofile") && !before.has(f),
            ),
          `profile from ${pid}`,
        );
        profiles.set(pid, JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile);
      }
      return profiles;
    },
  };
}
