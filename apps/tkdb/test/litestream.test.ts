/**
 * tkdb on @tkdb/litestream, with the real Litestream binary and `file://` replicas: `serve` (a
 * real process, TKDB_LITESTREAM_CONFIG) announces itself only once the replica is restorable,
 * ships its last write when stopped, never hands its keys to Litestream; `backup restore`
 * (in-process CLI) restores a point in time or a `litefs export` file, checked with TKDB_KEK
 * before anything is put in place.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "@tkdb/service";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../src/cli/index.js";
import { randomBytes } from "../src/crypto.js";
import { nc, randomNonceId, tempDir } from "./helpers.js";

const APP = fileURLToPath(new URL("..", import.meta.url));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t = tempDir();
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  t.cleanup();
});

let n = 0;
/** A data folder, KEK, Noise key and a Litestream config with one file:// replica. */
function rig(syncInterval = "100ms") {
  const dir = join(t.dir, `r${n++}`);
  const dataDir = join(dir, "data");
  const db = join(dataDir, "tkdb.db");
  const config = join(dir, "litestream.yml");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(
    config,
    `dbs:\n  - path: ${db}\n    replicas:\n      - url: file://${join(dir, "replica")}\n        sync-interval: ${syncInterval}\n`,
  );
  const env: Record<string, string> = {
    TKDB_DATA_DIR: dataDir,
    TKDB_KEK: hex(randomBytes(32)),
    TKDB_NOISE_KEY: hex(nc.generateKeyPair().secretKey),
    TKDB_PORT: "0",
    TKDB_LITESTREAM_CONFIG: config,
  };
  return { dir, db, env };
}

/** One command line in-process. */
async function run(argv: string[], env: Record<string, string>) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(cli, {
    argv,
    env,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd: t.dir,
  });
  return { code, stdout, stderr };
}

/** `tkdb serve` as a process; resolves at its ready line. */
async function serve(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], {
    cwd: APP,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve();
    });
    exited.then((code) => reject(new Error(`serve exited ${code} before its ready line:\n${err}`)));
  });
  const banner = JSON.parse(out.split("\n")[0] as string) as { url: string; publicKey: string };
  return {
    banner,
    log: () => err,
    /** SIGTERM: the final sync, then the exit code. */
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** The revoked nonces (base64) of a database file, in feed order. */
function revoked(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare("SELECT nonce FROM blacklist ORDER BY rowid").all() as { nonce: Buffer }[];
    return rows.map((r) => r.nonce.toString("base64"));
  } finally {
    db.close();
  }
}

async function revoke(env: Record<string, string>, nonce: string) {
  const r = await run(["token", "revoke", nonce], env);
  expect(r.code, r.stderr).toBe(0);
}

describe("tkdb serve with Litestream (real binary)", () => {
  it("the ready line is printed only once the replica holds a restorable snapshot", async () => {
    const r = rig();
    const s = await serve(r.env);
    try {
      // At once, with no wait: the replica already restores.
      const out = join(r.dir, "at-ready.db");
      const res = await run(["backup", "restore", "--output", out], r.env);
      expect(res.code, res.stderr).toBe(0);
      expect(existsSync(out)).toBe(true);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  }, 60_000);

  it("SIGTERM ships the last write (Litestream's final sync) and removes the replicator's record", async () => {
    // A sync interval far longer than the test: only the final sync can ship the revocation.
    const r = rig("1h");
    const s = await serve(r.env);
    const pidFile = `${r.db}.litestream.pid`;
    const pid = Number(readFileSync(pidFile, "utf8").split(" ")[0]);
    const nonce = randomNonceId();
    await revoke(r.env, nonce);
    expect(await s.stop()).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    const out = join(r.dir, "latest.db");
    const res = await run(["backup", "restore", "--output", out], r.env);
    expect(res.code, res.stderr).toBe(0);
    expect(revoked(out)).toEqual([nonce]);
  }, 60_000);

  it("Litestream's environment holds neither TKDB_KEK nor TKDB_NOISE_KEY, but keeps AWS_* and LITESTREAM_*", async () => {
    const r = rig();
    const s = await serve({ ...r.env, AWS_REGION: "test-region-1", LITESTREAM_ACCESS_KEY_ID: "test-id" });
    try {
      const pid = Number(readFileSync(`${r.db}.litestream.pid`, "utf8").split(" ")[0]);
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      expect(environ).toContain("AWS_REGION=test-region-1");
      expect(environ).toContain("LITESTREAM_ACCESS_KEY_ID=test-id");
      expect(environ.filter((v) => v.startsWith("TKDB_"))).toEqual([]);
      const all = environ.join("\n").toLowerCase();
      expect(all).not.toContain(r.env.TKDB_KEK as string);
      expect(all).not.toContain(r.env.TKDB_NOISE_KEY as string);
      expect(s.log()).not.toContain(r.env.TKDB_KEK as string);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  }, 60_000);
});

describe("tkdb backup restore (verified, real binary)", () => {
  const r = rig();
  const [A, B] = [randomNonceId(), randomNonceId()];
  let between = "";
  let served = false;
  /** One live run: revoke A, time T, revoke B, stop. */
  async function live() {
    if (served) return;
    served = true;
    const s = await serve(r.env);
    try {
      const org = await run(["org", "create", "7"], r.env);
      expect(org.code, org.stderr).toBe(0);
      await revoke(r.env, A);
      await sleep(1500);
      between = new Date().toISOString();
      await sleep(1500);
      await revoke(r.env, B);
      await sleep(1500);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  }
  /** No restore leaves its private folder behind. */
  const leftovers = () => readdirSync(r.dir).filter((f) => f.includes(".restoring-"));

  it("restoring to a time between revocation A and B yields A but not B; latest yields both", async () => {
    await live();
    const latest = join(r.dir, "latest.db");
    const res = await run(["backup", "restore", "--output", latest], r.env);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ restored: latest });
    expect(revoked(latest)).toEqual([A, B]);
    const at = join(r.dir, "between.db");
    const res2 = await run(["backup", "restore", "--timestamp", between, "--output", at], r.env);
    expect(res2.code, res2.stderr).toBe(0);
    expect(revoked(at)).toEqual([A]);
  }, 90_000);

  it("a copy that does not open with TKDB_KEK is refused (wrong_kek) and nothing is left at the output", async () => {
    await live();
    const out = join(r.dir, "wrong-kek.db");
    const res = await run(["backup", "restore", "--output", out], {
      ...r.env,
      TKDB_KEK: hex(randomBytes(32)),
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("wrong_kek");
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  }, 90_000);

  it("without TKDB_KEK nothing is restored (usage error naming the variable)", async () => {
    const out = join(r.dir, "no-kek.db");
    const { TKDB_KEK: _, ...noKek } = r.env;
    const res = await run(["backup", "restore", "--output", out], noKek);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("TKDB_KEK");
    expect(existsSync(out)).toBe(false);
  });

  it("an existing output is never overwritten (conflict) and keeps its content", async () => {
    await live();
    const out = join(r.dir, "existing.db");
    writeFileSync(out, "operator's file");
    const res = await run(["backup", "restore", "--output", out], r.env);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("conflict");
    expect(readFileSync(out, "utf8")).toBe("operator's file");
    expect(leftovers()).toEqual([]);
  }, 90_000);

  it("--export restores a `litefs export` file checked with the KEK; a wrong KEK, an altered root key, a non-SQLite file and --timestamp are refused", async () => {
    await live();
    const exp = join(r.dir, "export.db");
    const src = new Database(r.db, { readonly: true });
    src.prepare("VACUUM INTO ?").run(exp);
    src.close();
    const { TKDB_LITESTREAM_CONFIG: _, ...noConfig } = r.env;
    const out = join(r.dir, "from-export.db");
    const ok = await run(["backup", "restore", "--export", exp, "--output", out], noConfig);
    expect(ok.code, ok.stderr).toBe(0);
    expect(revoked(out)).toEqual([A, B]);

    const wrongOut = join(r.dir, "from-export-wrong.db");
    const wrong = await run(["backup", "restore", "--export", exp, "--output", wrongOut], {
      ...noConfig,
      TKDB_KEK: hex(randomBytes(32)),
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("wrong_kek");
    expect(existsSync(wrongOut)).toBe(false);

    // A sealed root key altered in the export (the KEK check value intact): refused as corrupt.
    const tampered = join(r.dir, "tampered.db");
    const tdb = new Database(exp, { readonly: true });
    tdb.prepare("VACUUM INTO ?").run(tampered);
    tdb.close();
    const w = new Database(tampered);
    const row = w.prepare("SELECT sealed_key FROM root_keys WHERE org = '7'").get() as { sealed_key: Buffer };
    const last = row.sealed_key.length - 1;
    row.sealed_key.writeUInt8(row.sealed_key.readUInt8(last) ^ 1, last);
    w.prepare("UPDATE root_keys SET sealed_key = ? WHERE org = '7'").run(row.sealed_key);
    w.pragma("journal_mode = DELETE");
    w.close();
    const bent = await run(["backup", "restore", "--export", tampered, "--output", wrongOut], noConfig);
    expect(bent.code).toBe(1);
    expect(bent.stderr).toContain("integrity");
    expect(existsSync(wrongOut)).toBe(false);

    const junk = join(r.dir, "junk.db");
    writeFileSync(junk, "not a database at all, just text");
    const bad = await run(["backup", "restore", "--export", junk, "--output", wrongOut], noConfig);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid_request");
    expect(existsSync(wrongOut)).toBe(false);

    const both = await run(
      ["backup", "restore", "--export", exp, "--timestamp", "2026-01-02T03:04:05Z", "--output", wrongOut],
      noConfig,
    );
    expect(both.code).toBe(2);
    expect(existsSync(wrongOut)).toBe(false);
    expect(leftovers()).toEqual([]);
  }, 90_000);
});
