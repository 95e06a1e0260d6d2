/**
 * Database bytes per discharge and per revocation (issue 14, "Reads on replicas"): a tkdb started
 * in-process from the variables `tkdb serve` reads (env.ts loadConfig), driven over HTTP/Noise in
 * forward-secret sessions by 8 concurrent callers. Around each run the database files (tkdb.db,
 * -wal, -shm) are measured:
 *
 * - before: after a TRUNCATE checkpoint (an empty WAL), from a connection of the bench's own;
 * - right after the run: `raw` growth of the three files, and the frames the WAL holds (a PASSIVE
 *   checkpoint's `log`; for discharges every page written since the baseline, since nothing can
 *   have wrapped the WAL);
 * - after another TRUNCATE checkpoint: the growth that stays (`checkpointed`).
 *
 * Headlines: per 100 000 discharges the larger of `rpc_wal_bytes` and the checkpointed growth (the
 * goal is no write at all, so even a page rewritten in place counts); per 1 000 revocations the checkpointed
 * growth (what the rows cost; the WAL is reused once checkpointed).
 *
 * The primary's heartbeat (replication.ts) rewrites one row in place every TKDB_HEARTBEAT_MS (set
 * to its longest, 60 s, here): the WAL frames of its table's pages are counted apart
 * (`heartbeat_frames`, found with SQLite's dbstat) so that a run measures the RPCs, not the clock;
 * `rpc_wal_bytes` is every other frame the run wrote. The audit log (a file of its
 * own beside the database, not in it) is measured too: its bytes per event are the price of
 * making the operations auditable without a database write.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Nonce } from "@tkdb/macaroon";
import Database from "better-sqlite3";
import { randomBytes } from "../src/crypto.js";
import { loadConfig } from "../src/env.js";
import { startTkdb } from "../src/server.js";
import { drive, newKeys, readerTicket, serveEnvFor, sessions, userHeader } from "./fixture.js";

const CALLERS = 8;
const FILES = ["tkdb.db", "tkdb.db-wal", "tkdb.db-shm"] as const;

const size = (p: string) => {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
};

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) n += size(join(e.parentPath, e.name));
  return n;
}

/**
 * The pages the frames of a WAL file hold, in order (file format: a 32-byte header with the page
 * size at byte 8 and the salts at 16..23; each frame a 24-byte header, page number first, whose
 * salts match the file's, then the page). Frames of an older generation (other salts) stop it.
 */
function walPages(path: string): { pages: number[]; frameBytes: number } {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch {
    return { pages: [], frameBytes: 0 };
  }
  if (b.length < 32) return { pages: [], frameBytes: 0 };
  const pageSize = b.readUInt32BE(8) || 65536;
  const pages: number[] = [];
  for (let off = 32; off + 24 + pageSize <= b.length; off += 24 + pageSize) {
    if (!b.subarray(off + 8, off + 16).equals(b.subarray(16, 24))) break;
    pages.push(b.readUInt32BE(off));
  }
  return { pages, frameBytes: 24 + pageSize };
}

export interface RunBytes {
  n: number;
  /** growth of tkdb.db + -wal + -shm right after the run */
  raw_bytes: number;
  /** WAL frames present right after the run (PASSIVE checkpoint `log`) */
  wal_frames: number;
  /** of which on the pages of the primary's heartbeat row (replication.ts), not the RPCs' */
  heartbeat_frames: number;
  /** bytes of the other frames (frame header + page): what the RPCs wrote */
  rpc_wal_bytes: number;
  /** growth that stays after a TRUNCATE checkpoint */
  checkpointed_bytes: number;
  /** per file, right after the run: db, wal, shm */
  raw_by_file: number[];
  audit_log_bytes: number;
  per_s: number;
}

/** Measures the database files around `run`, a batch of `n` RPCs. */
async function measure(dir: string, n: number, run: () => Promise<number>): Promise<RunBytes> {
  const dbPath = join(dir, "tkdb.db");
  const probe = new Database(dbPath);
  try {
    probe.pragma("busy_timeout = 5000");
    const files = () => FILES.map((f) => size(join(dir, f)));
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    probe.pragma("wal_checkpoint(TRUNCATE)");
    const before = files();
    const auditBefore = dirBytes(join(dir, "audit"));
    const ms = await run();
    const after = files();
    const wal = walPages(join(dir, "tkdb.db-wal"));
    const heartbeat = new Set(
      (
        probe.prepare("SELECT pageno FROM dbstat WHERE name = 'replication'").all() as { pageno: number }[]
      ).map((r) => r.pageno),
    );
    const heartbeatFrames = wal.pages.filter((p) => heartbeat.has(p)).length;
    const [ck] = probe.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
    probe.pragma("wal_checkpoint(TRUNCATE)");
    const settled = files();
    return {
      n,
      raw_bytes: sum(after) - sum(before),
      wal_frames: ck?.log ?? -1,
      heartbeat_frames: heartbeatFrames,
      rpc_wal_bytes: (wal.pages.length - heartbeatFrames) * wal.frameBytes,
      checkpointed_bytes: sum(settled) - sum(before),
      raw_by_file: after.map((x, i) => x - (before[i] ?? 0)),
      audit_log_bytes: dirBytes(join(dir, "audit")) - auditBefore,
      per_s: Math.round((n * 1000) / ms),
    };
  } finally {
    probe.close();
  }
}

export interface DbBytesResult {
  discharges: RunBytes;
  revocations: RunBytes;
  performance: { db_bytes_per_100k_discharges: number; db_bytes_per_1k_revocations: number };
}

/** `discharges` discharges, then `revocations` revocations (of tokens minted beforehand). */
export async function dbBytes(
  discharges: number,
  revocations: number,
  heartbeatMs = 60_000,
): Promise<DbBytesResult> {
  const dir = mkdtempSync(join(tmpdir(), "tkdb-bench-bytes-"));
  const keys = newKeys();
  const config = loadConfig(serveEnvFor(keys, dir, { TKDB_HEARTBEAT_MS: String(heartbeatMs) }));
  config.log = { write: () => {} };
  const h = await startTkdb(config);
  const c = sessions(h.url, h.publicKey, keys);
  try {
    const org = 7n;
    await c.sign("org_create", { org: org.toString() });
    const header = await userHeader(c, keys, org);
    const ticket = readerTicket(keys);
    const discharge = () => c.verify("discharge", { ticket, header, org: "7", app: "42" });
    await drive(50, CALLERS, discharge); // warm-up: sessions, root-key cache, JIT
    const d = await measure(dir, discharges, () => drive(discharges, CALLERS, discharge));
    // Revocations of real tokens (each minted by tkdb, so it has a tokens row and an expiry).
    const nonces: string[] = [];
    await drive(revocations, CALLERS, async () => {
      const { nonce } = await c.sign<{ nonce: string }>("mint", {
        org: "7",
        caveats: [{ type: "Organization", body: { id: 7, mask: "r" } }],
      });
      nonces.push(nonce);
    });
    // Warm the revoke path up on a nonce tkdb never minted (it is blacklisted all the same).
    const stranger = Nonce.create(randomBytes(16), false).encode();
    await c.sign("revoke", { nonce: Buffer.from(stranger).toString("base64") });
    const r = await measure(dir, revocations, () =>
      drive(revocations, CALLERS, (i) => c.sign("revoke", { nonce: nonces[i] })),
    );
    return {
      discharges: d,
      revocations: r,
      performance: {
        // Any write counts against discharge's goal of none, even one the checkpoint folds away
        // (every page the RPCs wrote is a WAL frame: a discharge run is far too small to wrap it).
        db_bytes_per_100k_discharges: Math.round(
          (Math.max(d.rpc_wal_bytes, d.checkpointed_bytes) * 100_000) / discharges,
        ),
        // What a revocation leaves in the database (the WAL is reused once checkpointed).
        db_bytes_per_1k_revocations: Math.round((r.checkpointed_bytes * 1000) / revocations),
      },
    };
  } finally {
    c.close();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
