/**
 * Continuous backup and point-in-time restore with the real Litestream binary (v0.3.13) and a
 * `file://` replica in a temp folder. One replicated history is built once (v1, then time T, then
 * v2) and every test restores from it. Replication is awaited by polling (restore the latest and
 * read its app_version) with a bounded deadline, never by a fixed sleep.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LitestreamConfig } from "../src/env.js";
import { isPetsemError } from "../src/errors.js";
import {
  generations,
  litestreamBinary,
  renderConfig,
  restore,
  restoreBackup,
  startReplication,
  summarizeLitestreamOutput,
} from "../src/litestream.js";
import { startPetsem } from "../src/server.js";
import { SecretStore } from "../src/store.js";
import { APP, BACKENDS, newKek, ORG } from "./helpers.js";
import { lz4FrameDecode } from "./lz4.js";

const CLI = fileURLToPath(new URL("../src/cli.ts", import.meta.url));

function encodings(marker: string): string[] {
  const b = Buffer.from(marker, "utf8");
  return [
    marker,
    b.toString("hex"),
    b.toString("hex").toUpperCase(),
    b.toString("base64"),
    b.toString("base64url"),
  ];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

function removeDb(file: string): void {
  for (const s of ["", "-wal", "-shm"]) rmSync(`${file}${s}`, { force: true });
}

/** app_version of (ORG, APP) in a database file, read as public metadata (no KEK needed). */
function appVersionIn(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    const row = db
      .prepare("SELECT app_version FROM apps WHERE org = ? AND app = ?")
      .get(String(ORG), String(APP)) as { app_version: number } | undefined;
    return row?.app_version ?? 0;
  } finally {
    db.close();
  }
}

let probeSeq = 0;
/** Polls (restore latest → read app_version) until the replica holds `version`; bounded. */
async function waitReplicated(
  dir: string,
  dbPath: string,
  replica: LitestreamConfig,
  version: number,
  deadlineMs = 15_000,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const probe = join(dir, `probe-${probeSeq++}.db`);
    try {
      await restore({ replica, dbPath, outputPath: probe });
      if (appVersionIn(probe) >= version) return performance.now() - t0;
    } catch (e) {
      if (!isPetsemError(e, "backup")) throw e; // "no matching backups found" until the first sync
    } finally {
      removeDb(probe);
    }
    if (performance.now() - t0 > deadlineMs) throw new Error(`replica did not reach app_version ${version}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    p.on("exit", (code) => resolve({ code, out, err }));
  });
}

interface Fixture {
  dir: string;
  file: string;
  replicaDir: string;
  replica: LitestreamConfig;
  kek: Uint8Array;
  v1: Record<string, string>;
  v2: Record<string, string>;
  /** a point between v1 reaching the replica and v2 being written */
  T: Date;
}

describe("Litestream continuous backup (real binary, file:// replica)", () => {
  let fx: Fixture;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "petsem-litestream-test-"));
    const file = join(dir, "petsem.db");
    const replicaDir = join(dir, "replica");
    const replica = { replica: pathToFileURL(replicaDir).href, syncInterval: "100ms" };
    const kek = newKek();
    const tag = randomBytes(4).toString("hex").toUpperCase();
    const v1 = {
      [`DB_URL_${tag}`]: `v1-${randomBytes(24).toString("hex")}`,
      [`API_KEY_${tag}`]: `v1-${randomBytes(24).toString("hex")}`,
    };
    const v2 = Object.fromEntries(Object.keys(v1).map((k) => [k, `v2-${randomBytes(24).toString("hex")}`]));
    const store = SecretStore.open({ file, kek, backend: "native" });
    const replication = await startReplication(file, replica);
    try {
      expect(store.set({ org: ORG, app: APP, values: v1 }).app_version).toBe(1);
      await waitReplicated(dir, file, replica, 1);
      const T = new Date();
      expect(store.set({ org: ORG, app: APP, values: v2 }).app_version).toBe(2);
      await waitReplicated(dir, file, replica, 2);
      fx = { dir, file, replicaDir, replica, kek, v1, v2, T };
    } finally {
      await replication.stop();
      store.close();
    }
  }, 30_000);

  afterAll(() => {
    if (fx) rmSync(fx.dir, { recursive: true, force: true });
  });

  it("spawns the real platform binary, not the npm wrapper", () => {
    const bin = litestreamBinary();
    expect(bin).toMatch(/@flydotio[/\\]litestream-[a-z0-9]+-[a-z0-9]+[/\\]litestream$/);
    expect(bin).not.toContain(".bin");
  });

  it("writes a Litestream 0.3 config: db path, file replica path, sync interval", () => {
    const yml = renderConfig("/data/petsem.db", { replica: "file:///backups/petsem", syncInterval: "250ms" });
    expect(yml).toContain('- path: "/data/petsem.db"');
    expect(yml).toContain("type: file");
    expect(yml).toContain('path: "/backups/petsem"');
    expect(yml).toContain("sync-interval: 250ms");
    const s3 = renderConfig("/data/petsem.db", "s3://bucket/petsem");
    expect(s3).toContain('url: "s3://bucket/petsem"');
    expect(s3).toContain("sync-interval: 1s");
  });

  it.each(BACKENDS)(
    "restore to T gives exactly the v1 values (app_version 1); latest gives v2 (%s)",
    async (backend) => {
      const atT = join(fx.dir, `at-t-${backend}.db`);
      const r = await restoreBackup({
        replica: fx.replica,
        dbPath: fx.file,
        outputPath: atT,
        timestamp: fx.T,
        kek: fx.kek,
        backend,
      });
      expect(r.apps).toEqual([{ org: String(ORG), app: String(APP), appVersion: 1 }]);
      const old = SecretStore.open({ file: atT, kek: fx.kek, backend });
      try {
        const got = old.resolve({ org: ORG, app: APP, minVersion: 1 });
        expect(got.app_version).toBe(1);
        expect(Object.fromEntries(got.secrets.map((s) => [s.name, s.value]))).toEqual(fx.v1);
        expect(() => old.resolve({ org: ORG, app: APP, minVersion: 2 })).toThrow(
          expect.objectContaining({ code: "stale" }),
        );
      } finally {
        old.close();
      }

      const latest = join(fx.dir, `latest-${backend}.db`);
      await restoreBackup({ replica: fx.replica, dbPath: fx.file, outputPath: latest, kek: fx.kek, backend });
      const now = SecretStore.open({ file: latest, kek: fx.kek, backend });
      try {
        const got = now.resolve({ org: ORG, app: APP, minVersion: 2 });
        expect(got.app_version).toBe(2);
        expect(Object.fromEntries(got.secrets.map((s) => [s.name, s.value]))).toEqual(fx.v2);
        expect(now.verifyAuditChain().ok).toBe(true);
      } finally {
        now.close();
      }
    },
  );

  it("P25: no replica file holds a secret value in any encoding (raw or LZ4-decoded), though they hold the public names", () => {
    const files = filesUnder(fx.replicaDir);
    expect(files.some((f) => f.endsWith(".snapshot.lz4"))).toBe(true);
    expect(files.some((f) => f.endsWith(".wal.lz4"))).toBe(true);
    const raw = files.map((f) => readFileSync(f));
    const decoded = files.filter((f) => f.endsWith(".lz4")).map((f) => lz4FrameDecode(readFileSync(f)));
    // The decoder really decodes: snapshots are SQLite files, and the (non-secret) names are findable.
    expect(decoded.some((b) => b.subarray(0, 16).toString("latin1") === "SQLite format 3\0")).toBe(true);
    const everything = [...raw, ...decoded];
    for (const name of Object.keys(fx.v1)) {
      expect(everything.some((b) => b.includes(Buffer.from(name)))).toBe(true);
    }
    for (const value of [...Object.values(fx.v1), ...Object.values(fx.v2)]) {
      for (const enc of encodings(value)) {
        for (const b of everything) expect(b.includes(Buffer.from(enc, "latin1"))).toBe(false);
      }
    }
  });

  it("P25: a restore with a wrong KEK, or with none, is refused with petsem's typed error and leaves no file", async () => {
    const out = join(fx.dir, "wrong-kek.db");
    await expect(
      restoreBackup({ replica: fx.replica, dbPath: fx.file, outputPath: out, kek: newKek() }),
    ).rejects.toMatchObject({ name: "PetsemError", code: "wrong_kek" });
    await expect(
      restoreBackup({ replica: fx.replica, dbPath: fx.file, outputPath: out, kek: undefined }),
    ).rejects.toMatchObject({ name: "PetsemError", code: "config" });
    expect(readdirSync(fx.dir).filter((f) => f.startsWith("wrong-kek"))).toEqual([]);
  });

  it("restore failures are typed `backup` errors with Litestream's reason: existing output, unknown database", async () => {
    const existing = join(fx.dir, "exists.db");
    writeFileSync(existing, "x");
    await expect(
      restore({ replica: fx.replica, dbPath: fx.file, outputPath: existing }),
    ).rejects.toMatchObject({
      code: "backup",
    });
    const err = await restore({
      replica: { replica: pathToFileURL(join(fx.dir, "empty-replica")).href, syncInterval: "1s" },
      dbPath: fx.file,
      outputPath: join(fx.dir, "never.db"),
    }).catch((e: unknown) => e);
    expect(isPetsemError(err, "backup")).toBe(true);
    expect((err as Error).message).toMatch(/no matching backups found/);
    expect(existsSync(join(fx.dir, "never.db"))).toBe(false);
    expect(summarizeLitestreamOutput(['time=x level=ERROR msg="failed" error="boom \\"q\\""'])).toBe(
      'boom \\"q\\"',
    );
  });

  it("lists the replicated generation", async () => {
    const gens = await generations(fx.file, fx.replica);
    expect(gens.length).toBeGreaterThanOrEqual(1);
    expect(gens[0]?.generation).toMatch(/^[0-9a-f]{16}$/);
  });

  it("CLI `backup restore`: --timestamp gives v1, latest gives v2; no KEK, wrong KEK, bad timestamp exit non-zero", async () => {
    const kekHex = Buffer.from(fx.kek).toString("hex");
    const base = { PETSEM_DATA_DIR: fx.dir, PETSEM_LITESTREAM_REPLICA: fx.replica.replica };
    const [atT, latest, noKek, wrongKek, badTs] = await Promise.all([
      runCli(["backup", "restore", "--timestamp", fx.T.toISOString(), "--output", join(fx.dir, "cli-t.db")], {
        ...base,
        PETSEM_KEK: kekHex,
      }),
      runCli(["backup", "restore", "--output", join(fx.dir, "cli-latest.db")], {
        ...base,
        PETSEM_KEK: kekHex,
      }),
      runCli(["backup", "restore", "--output", join(fx.dir, "cli-nokek.db")], base),
      runCli(["backup", "restore", "--output", join(fx.dir, "cli-wrong.db")], {
        ...base,
        PETSEM_KEK: randomBytes(32).toString("hex"),
      }),
      runCli(["backup", "restore", "--timestamp", "yesterday", "--output", join(fx.dir, "cli-bad.db")], {
        ...base,
        PETSEM_KEK: kekHex,
      }),
    ]);
    expect(atT.code).toBe(0);
    expect(JSON.parse(atT.out).apps).toEqual([{ org: String(ORG), app: String(APP), appVersion: 1 }]);
    expect(appVersionIn(join(fx.dir, "cli-t.db"))).toBe(1);
    expect(latest.code).toBe(0);
    expect(appVersionIn(join(fx.dir, "cli-latest.db"))).toBe(2);
    expect(noKek.code).toBe(2); // usage: a missing variable
    expect(noKek.err).toMatch(/config: PETSEM_KEK is required/);
    expect(wrongKek.code).toBe(1);
    expect(wrongKek.err).toMatch(/wrong_kek/);
    expect(badTs.code).toBe(2); // usage: a bad flag value (never echoed)
    expect(badTs.err).toMatch(/--timestamp must be an RFC 3339 time/);
    for (const f of ["cli-nokek.db", "cli-wrong.db", "cli-bad.db"])
      expect(existsSync(join(fx.dir, f))).toBe(false);
    for (const r of [atT, latest, noKek, wrongKek, badTs]) {
      for (const v of [...Object.values(fx.v1), ...Object.values(fx.v2)])
        expect(r.out + r.err).not.toContain(v);
    }
  });
});

describe("CLI serve with PETSEM_LITESTREAM_REPLICA", () => {
  it("starts Litestream, and on SIGTERM stops it after the server and exits 0 with the database on the replica", async () => {
    const dir = mkdtempSync(join(tmpdir(), "petsem-litestream-cli-"));
    try {
      const replicaUrl = pathToFileURL(join(dir, "replica")).href;
      const env = {
        PATH: process.env.PATH ?? "",
        PETSEM_DATA_DIR: dir,
        PETSEM_PORT: "0",
        PETSEM_KEK: randomBytes(32).toString("hex"),
        PETSEM_NOISE_KEY: randomBytes(32).toString("hex"),
        PETSEM_LITESTREAM_REPLICA: replicaUrl,
      };
      const p = spawn(process.execPath, ["--import", "tsx", CLI, "serve"], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      p.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      const code = await new Promise<number | null>((resolve) => {
        p.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) p.kill("SIGTERM");
        });
        p.on("exit", resolve);
      });
      // Only the JSON log's info lines (listening, stopping, stopped): no warning or error.
      const lines = err.split("\n").filter((l) => l !== "");
      expect(
        lines.map((l) => (JSON.parse(l) as { level: string }).level).every((l) => l === "info"),
        err,
      ).toBe(true);
      expect(code).toBe(0);
      expect(JSON.parse(out.split("\n")[0] as string).backup).toBe(replicaUrl);
      const gens = await generations(join(dir, "petsem.db"), replicaUrl);
      expect(gens).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("startPetsem with a replica", () => {
  it("close() stops Litestream after the server, and its final sync ships a write made just before", async () => {
    const dir = mkdtempSync(join(tmpdir(), "petsem-litestream-serve-"));
    try {
      const kek = newKek();
      // A sync interval far longer than the test: only the SIGTERM final sync can ship the write.
      const replica = { replica: pathToFileURL(join(dir, "replica")).href, syncInterval: "1h" };
      const running = await startPetsem({ dataDir: dir, kek, noiseStaticKey: newKek(), litestream: replica });
      expect(running.replication?.pid).toBeGreaterThan(0);
      running.store.set({ org: ORG, app: APP, values: { LAST_WORDS: "x".repeat(10) } });
      await running.close();
      expect(await running.replication?.exited).toBe(0);
      const out = join(dir, "restored.db");
      await restoreBackup({ replica, dbPath: join(dir, "petsem.db"), outputPath: out, kek });
      expect(appVersionIn(out)).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
