/**
 * The petsem CLI, in-process through the runner (runPetsemCli with buffers, no subprocess), and
 * once as a process through src/cli.ts and bin/petsem.mjs (the paths the harness, scripts and
 * operators run).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { noiseCall } from "@tkdb/noise";
import { describe, expect, it } from "vitest";
import { runPetsemCli } from "../src/cli/index.js";
import { tempDir } from "./helpers.js";

class Buf {
  text = "";
  private waiters: (() => void)[] = [];
  write(chunk: string): boolean {
    this.text += chunk;
    for (const w of this.waiters.splice(0)) w();
    return true;
  }
  /** Resolves with the first line once one is complete. */
  async firstLine(): Promise<string> {
    while (!this.text.includes("\n")) await new Promise<void>((r) => this.waiters.push(r));
    return this.text.split("\n")[0] as string;
  }
}

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs one command line in-process; cwd is a temp folder, so no development env file applies. */
async function petsem(
  argv: string[],
  env: Record<string, string>,
  opts: { stdin?: string; signal?: AbortSignal; stdout?: Buf } = {},
): Promise<Ran> {
  const stdout = opts.stdout ?? new Buf();
  const stderr = new Buf();
  const code = await runPetsemCli({
    argv,
    env,
    stdout,
    stderr,
    cwd: tempDir(),
    ...(opts.stdin === undefined ? {} : { stdin: Readable.from([opts.stdin]) }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
  return { code, out: stdout.text, err: stderr.text };
}

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

/** Fresh keys from `petsem keygen` and an empty data folder. */
async function freshEnv(): Promise<Record<string, string>> {
  const keys = await petsem(["keygen"], {});
  expect(keys.code).toBe(0);
  return { ...parseEnv(keys.out), PETSEM_DATA_DIR: tempDir(), PETSEM_PORT: "0" };
}

const FEED = { PETSEM_TKDB_URL: "http://127.0.0.1:9", PETSEM_TKDB_PUBLIC_KEY: "11".repeat(32) };

describe("petsem CLI (in-process)", () => {
  it("keygen prints every key variable serve needs, readable or as JSON", async () => {
    const env = await freshEnv();
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining(["PETSEM_KEK", "PETSEM_NOISE_KEY", "PETSEM_TKDB_SHARED_KEY"]),
    );
    const json = await petsem(["keygen", "--json"], {});
    expect(Object.keys(JSON.parse(json.out))).toEqual(
      expect.arrayContaining([
        "PETSEM_KEK",
        "PETSEM_NOISE_KEY",
        "noise_public_key",
        "PETSEM_TKDB_SHARED_KEY",
      ]),
    );
  });

  it("help at every level and --version exit 0; unknown commands and bad flags exit 2", async () => {
    for (const argv of [["--help"], ["token", "--help"], ["token", "mint", "--help"], ["help", "audit"]]) {
      const r = await petsem(argv, {});
      expect(r.code, argv.join(" ")).toBe(0);
      expect(r.out).toContain("Usage: petsem");
    }
    expect((await petsem(["--help"], {})).out).toContain("Exit codes:");
    const v = await petsem(["--version"], {});
    expect([v.code, v.out.trim()]).toEqual([0, "0.1.0"]);
    expect((await petsem(["tokn", "mint"], {})).code).toBe(2);
    expect((await petsem(["token", "mint", "--writr"], {})).code).toBe(2);
    const env = await freshEnv();
    for (const org of ["-1", "0", "0x7", String(1n << 64n)]) {
      const bad = await petsem(["token", "mint", "--writer", `--org=${org}`], env);
      expect(bad.code, org).toBe(2);
    }
    expect((await petsem(["token", "mint", "--writer", "--reader"], env)).code).toBe(2);
    expect((await petsem(["token", "mint"], env)).code).toBe(2);
    expect((await petsem(["token", "mint", "--writer", "--app", "3", "--init"], env)).code).toBe(2);
  });

  it("token mint never creates a database it was not asked to: missing is an error naming the path; --init creates it", async () => {
    const env = await freshEnv();
    const file = join(env.PETSEM_DATA_DIR as string, "petsem.db");
    const missing = await petsem(["token", "mint", "--writer"], env);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no petsem database at \S*petsem\.db/);
    expect(existsSync(file)).toBe(false);
    for (const argv of [
      ["token", "revoke", "--nonce", "AAAA"],
      ["audit", "verify", "--legacy"],
      ["audit", "export", "--legacy"],
    ]) {
      const r = await petsem(argv, env);
      expect([r.code, /no petsem database at \S*petsem\.db/.test(r.err)], argv.join(" ")).toEqual([1, true]);
    }
    // the audit commands read the file log (PETSEM_AUDIT_DIR): none there is refused, nothing created
    for (const argv of [
      ["audit", "verify"],
      ["audit", "export"],
    ]) {
      const r = await petsem(argv, env);
      expect([r.code, /no audit log at /.test(r.err)], argv.join(" ")).toEqual([1, true]);
    }
    expect(existsSync(file)).toBe(false);
    const created = await petsem(["token", "mint", "--writer", "--org=5", "--init"], env);
    expect(created.code).toBe(0);
    expect(created.out.trim()).toMatch(/^fm2_[A-Za-z0-9+/=_-]+$/);
    expect(existsSync(file)).toBe(true);
  });

  it("token mint prints writer and reader tokens (--org=5 and --org 5, --json); a wrong KEK is refused without echoing it", async () => {
    const env = await freshEnv();
    expect((await petsem(["token", "mint", "--writer", "--init"], env)).code).toBe(0);
    for (const argv of [
      ["token", "mint", "--writer", "--org=5", "--app=6", "--ttl=60"],
      ["token", "mint", "--writer", "--org", "5"],
      ["token", "mint", "--reader"],
    ]) {
      const r = await petsem(argv, env);
      expect([r.code, r.err], argv.join(" ")).toEqual([0, ""]);
      expect(r.out.trim()).toMatch(/^fm2_/);
    }
    const json = await petsem(["--json", "token", "mint", "--writer"], env);
    expect(JSON.parse(json.out).token).toMatch(/^fm2_/);
    const noShared = await petsem(["token", "mint", "--reader"], { ...env, PETSEM_TKDB_SHARED_KEY: "" });
    expect(noShared.code).toBe(2); // usage: a variable the command needs is missing
    expect(noShared.err).toMatch(/config: PETSEM_TKDB_SHARED_KEY is required to mint reader tokens/);
    const wrongKek = await petsem(["token", "mint", "--writer"], { ...env, PETSEM_KEK: "ab".repeat(32) });
    expect(wrongKek.code).toBe(1);
    expect(wrongKek.err).toMatch(/wrong_kek/);
    expect(wrongKek.err + wrongKek.out).not.toContain(env.PETSEM_KEK as string);
  });

  it("token revoke by token (argv or stdin) or nonce is audited, and audit verify/export see it", async () => {
    const env = await freshEnv();
    const writer = (await petsem(["token", "mint", "--writer", "--init"], env)).out.trim();
    const first = await petsem(["token", "revoke", "--token", "-"], env, { stdin: `${writer}\n` });
    expect(first.code).toBe(0);
    const r = JSON.parse(first.out) as { nonce: string; revoked: boolean };
    expect(r.revoked).toBe(true);
    const again = await petsem(["token", "revoke", "--nonce", r.nonce], env);
    expect(JSON.parse(again.out)).toEqual({ nonce: r.nonce, revoked: false });
    expect((await petsem(["token", "revoke"], env)).code).toBe(2);
    const verified = await petsem(["audit", "verify"], env);
    expect([verified.code, JSON.parse(verified.out).ok]).toEqual([0, true]);
    const exported = await petsem(["audit", "export", "petsem-test"], env);
    expect(exported.code).toBe(0);
    expect(exported.out).toMatch(/"_index":"petsem-test-\d{4}\.\d{2}\.\d{2}"/);
    expect(exported.out).toContain('"op":"revoke"');
    expect(exported.out).not.toContain(writer);
    expect((await petsem(["audit", "export", "Bad Index"], env)).code).toBe(2);
  });

  it("serve refuses to start without a KEK, or without tkdb's feed when it can resolve, and otherwise serves until aborted", async () => {
    const env = await freshEnv();
    const noKek = await petsem(["serve"], { PETSEM_DATA_DIR: env.PETSEM_DATA_DIR as string });
    expect(noKek.code).toBe(2); // usage: a missing variable
    expect(noKek.err).toMatch(/config: PETSEM_KEK is required \(set PETSEM_KEK or PETSEM_KEK_FILE\)/);
    const noFeed = await petsem(["serve"], env);
    expect(noFeed.code).toBe(2);
    expect(noFeed.err).toMatch(/PETSEM_TKDB_URL:? is required \(with PETSEM_TKDB_PUBLIC_KEY\) to serve/);

    const stop = new AbortController();
    const stdout = new Buf();
    const served = petsem(
      ["serve"],
      { ...env, ...FEED, PETSEM_TKDB_FEED_POLL_MS: "100" },
      { signal: stop.signal, stdout },
    );
    const info = JSON.parse(await stdout.firstLine()) as { petsem: string; noise_public_key: string };
    expect(info.petsem).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const writer = (await petsem(["token", "mint", "--writer", "--org", "7"], env)).out.trim();
    const listed = await noiseCall({
      url: info.petsem,
      api: "secrets",
      op: "list",
      args: { token: `FlyV1 ${writer}`, org: "7", app: "1" },
      pattern: "IK",
      serverPublicKey: new Uint8Array(Buffer.from(info.noise_public_key, "hex")),
    });
    expect(listed).toMatchObject({ app_version: 0, secrets: [] });
    stop.abort();
    expect((await served).code).toBe(0);
  });
});

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Runs from the app's folder (so `--import tsx` resolves), like the harness runs from the root. */
function spawnCli(
  entry: string[],
  args: string[],
  env: Record<string, string>,
  onLine?: (line: string, kill: () => void) => void,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...entry, ...args], {
      env: { PATH: process.env.PATH ?? "", NODE_ENV: "test", ...env },
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (onLine && out.includes("\n")) onLine(out.split("\n")[0] as string, () => p.kill("SIGTERM"));
    });
    p.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    p.on("exit", (code) => resolve({ code, out, err }));
  });
}

describe("petsem CLI (as a process)", () => {
  it("src/cli.ts serves until SIGTERM and exits 0; bin/petsem.mjs runs commands with the runner's exit codes", async () => {
    const env = await freshEnv();
    const script = ["--import", "tsx", join(ROOT, "src", "cli.ts")];
    const bin = [join(ROOT, "bin", "petsem.mjs")];
    let ready = "";
    const served = await spawnCli(script, ["serve"], { ...env, ...FEED }, (line, kill) => {
      ready = line;
      kill();
    });
    expect(served.code).toBe(0);
    expect(JSON.parse(ready)).toHaveProperty("noise_public_key");
    const minted = await spawnCli(bin, ["token", "mint", "--writer"], env);
    expect([minted.code, minted.out.trim().startsWith("fm2_")]).toEqual([0, true]);
    expect((await spawnCli(bin, ["no-such-command"], env)).code).toBe(2);
    expect((await spawnCli(bin, ["--version"], {})).out.trim()).toBe("0.1.0");
  }, 60_000);
});
