/**
 * Litestream backup numbers with the real binary and a file:// replica: time from a committed
 * write to the end of the replica segment write that carries it (from Litestream's own log lines),
 * for the default 1 s sync interval and for 100 ms; then restore times (latest, point in time,
 * and restoreBackup = restore + KEK check). Prints one JSON line at the end.
 * Run: `pnpm --filter petsem bench:backup` (or `npx tsx bench/backup.ts` in apps/petsem).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { restore, restoreBackup, startReplication } from "../src/litestream.js";
import { SecretStore } from "../src/store.js";

const WRITES = 10;

function stats(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x);
  return { min: r(s[0] ?? 0), median: r(s[Math.floor(s.length / 2)] ?? 0), max: r(s[s.length - 1] ?? 0) };
}

async function run(syncInterval: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "petsem-bench-backup-"));
  const file = join(dir, "petsem.db");
  const replica = { replica: pathToFileURL(join(dir, "replica")).href, syncInterval };
  const kek = randomBytes(32);
  const store = SecretStore.open({ file, kek, backend: "native" });
  // 200 secrets in 4 apps so the restores have something to move.
  for (let app = 1n; app <= 4n; app++) {
    const values: Record<string, string> = {};
    for (let i = 0; i < 50; i++) values[`SECRET_${i}`] = randomBytes(48).toString("base64");
    store.set({ org: 1n, app, values });
  }
  let waiter: { after: number; started: boolean; done: (t: number) => void } | null = null;
  const replication = await startReplication(file, replica, {
    onLog: (line) => {
      const now = performance.now();
      if (!waiter) return;
      if (line.includes('msg="write wal segment"') && now > waiter.after) waiter.started = true;
      if (line.includes('msg="wal segment written"') && waiter.started) waiter.done(now);
    },
  });
  const lags: number[] = [];
  let pointInTime = new Date();
  try {
    for (let i = 0; i < WRITES; i++) {
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
      const t0 = performance.now();
      const shipped = new Promise<number>((done) => {
        waiter = { after: t0, started: false, done };
      });
      store.set({ org: 1n, app: 1n, values: { SECRET_0: randomBytes(48).toString("base64") } });
      lags.push((await shipped) - t0);
      waiter = null;
      if (i === WRITES / 2) pointInTime = new Date();
    }
  } finally {
    await replication.stop();
    store.close();
  }
  const latest = await restore({ replica, dbPath: file, outputPath: join(dir, "latest.db") });
  const pit = await restore({
    replica,
    dbPath: file,
    outputPath: join(dir, "pit.db"),
    timestamp: pointInTime,
  });
  const t0 = performance.now();
  await restoreBackup({ replica, dbPath: file, outputPath: join(dir, "verified.db"), kek });
  const verified = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  return {
    sync_interval: syncInterval,
    writes: WRITES,
    write_to_replica_ms: stats(lags),
    restore_latest_ms: Math.round(latest.ms),
    restore_point_in_time_ms: Math.round(pit.ms),
    restore_backup_with_kek_check_ms: Math.round(verified),
  };
}

const results = [await run("1s"), await run("100ms")];
for (const r of results) console.log(r);
console.log(JSON.stringify({ bench: "petsem-backup", results }));
