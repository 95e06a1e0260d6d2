/**
 * The tkdb CLI in-process through @tkdb/service's runner (runCli with buffers, no subprocess):
 * help at every level, exit codes, --json, `--org=5`, local commands that never create a database
 * they were not asked to, and serve/verify against a real server on 127.0.0.1.
 */
import { existsSync, readdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { join } from "node:path";
import { runCli } from "@tkdb/service";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../src/cli/index.js";
import { randomBytes } from "../src/crypto.js";
import { nc, tempDir } from "./helpers.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const t = tempDir();
afterAll(() => t.cleanup());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function buffer() {
  const b = {
    text: "",
    write(s: string) {
      b.text += s;
    },
  };
  return b;
}

/** One command line in-process; cwd is outside the repository, so no development env file is read. */
async function run(argv: string[], env: Record<string, string> = {}, signal?: AbortSignal): Promise<Run> {
  const stdout = buffer();
  const stderr = buffer();
  const code = await runCli(cli, {
    argv,
    env,
    stdout,
    stderr,
    cwd: t.dir,
    ...(signal ? { signal } : {}),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let n = 0;
/** A fresh data folder and KEK. */
function fresh(): Record<string, string> {
  return { TKDB_DATA_DIR: join(t.dir, `d${n++}`), TKDB_KEK: hex(randomBytes(32)) };
}

/** The outcome documents of `tkdb audit export` (every second NDJSON line), in log order. */
async function auditOutcomes(env: Record<string, string>): Promise<Record<string, unknown>[]> {
  const r = await run(["audit", "export"], env);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split("\n")
    .filter((_, i) => i % 2 === 1)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((d) => d.kind === "outcome");
}

describe("tkdb CLI (in-process)", () => {
  it("--help works at every level, exits 0, and shows examples (and exit codes at the top)", async () => {
    const top = await run(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("Exit codes:");
    for (const c of ["keygen", "serve", "org", "token", "audit", "backup"]) expect(top.stdout).toContain(c);
    for (const argv of [
      ["token", "--help"],
      ["token", "mint", "--help"],
      ["org", "create", "--help"],
      ["audit", "verify", "--help"],
      ["backup", "restore", "--help"],
      ["help", "token"],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(" ")).toBe(0);
      expect(r.stdout, argv.join(" ")).toContain("Usage: tkdb");
    }
    expect((await run(["token", "mint", "--help"])).stdout).toContain("Examples:");
  });

  it("--version prints the package version", async () => {
    const r = await run(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("an unknown command or flag is a usage error (exit 2) with a hint", async () => {
    const cmd = await run(["frobnicate"]);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain("usage");
    const flag = await run(["token", "mint", "--orgg", "5"]);
    expect(flag.code).toBe(2);
  });

  it("local admin commands refuse a missing database, name its path and create nothing", async () => {
    const env = fresh();
    for (const argv of [
      ["org", "create", "5"],
      ["token", "mint", "--org", "5", "--expiry", "1h"],
      ["token", "revoke", "AAAA"],
      ["token", "revoke", "AAAA", "--local"],
      ["token", "mint", "--org", "5", "--unrestricted"],
    ]) {
      const r = await run(argv, env);
      expect(r.code, argv.join(" ")).toBe(1);
      expect(r.stderr).toContain(join(env.TKDB_DATA_DIR as string, "tkdb.db"));
      expect(r.stderr).toContain("--init");
    }
    // The audit commands read the audit log (TKDB_AUDIT_DIR, default <data dir>/audit), never a database.
    for (const argv of [
      ["audit", "verify"],
      ["audit", "export"],
    ]) {
      const r = await run(argv, env);
      expect(r.code, argv.join(" ")).toBe(1);
      expect(r.stderr).toContain(join(env.TKDB_DATA_DIR as string, "audit"));
    }
    expect(existsSync(env.TKDB_DATA_DIR as string)).toBe(false);
  });

  it("--init creates the database; --org=5, --org 5 and the positional org all mint; --json is one line", async () => {
    const env = fresh();
    const org = await run(["org", "create", "5", "--init", "--json"], env);
    expect(org.code, org.stderr).toBe(0);
    expect(JSON.parse(org.stdout)).toMatchObject({ org: "5", created: true });
    expect(readdirSync(env.TKDB_DATA_DIR as string)).toContain("tkdb.db");
    for (const argv of [
      ["token", "mint", "--org=5", "--expiry=1h", "--json"],
      ["--json", "token", "mint", "--org", "5", "--expiry", "1h"],
      ["token", "mint", "5", "[]", "--unrestricted", "--json"],
    ]) {
      const r = await run(argv, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n")).toHaveLength(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        token: expect.stringMatching(/^fm2_/),
        nonce: expect.any(String),
      });
    }
    const audit = await run(["audit", "verify"], env);
    expect(audit.code, audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true });
    // Each local mutation: a durable intent and an ok outcome in the CLI's log, as cli:<user>.
    const outcomes = await auditOutcomes(env);
    expect(outcomes.map((d) => [d.op, d.outcome])).toEqual([
      ["org_create", "ok"],
      ["mint", "ok"],
      ["mint", "ok"],
      ["mint", "ok"],
    ]);
    expect(outcomes.every((d) => String(d.actor).startsWith("cli:"))).toBe(true);
  });

  it("audit export refuses an index prefix outside @tkdb/audit's rule (exit 2, positional or --index-prefix) and exports under a good one", async () => {
    const env = fresh();
    expect((await run(["org", "create", "5", "--init"], env)).code).toBe(0);
    for (const argv of [
      ["audit", "export", "Bad Index"],
      ["audit", "export", "--index-prefix", "_all"],
      ["audit", "export", "--index-prefix=tkdb/audit"],
      ["audit", "export", "--legacy", "UPPER"],
    ]) {
      const r = await run(argv, env);
      expect([r.code, r.stdout], argv.join(" ")).toEqual([2, ""]);
      expect(r.stderr, argv.join(" ")).toContain("index prefix");
    }
    const good = await run(["audit", "export", "--index-prefix", "tkdb-test"], env);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/"_index":"tkdb-test-\d{4}\.\d{2}\.\d{2}"/);
    expect((await run(["audit", "export", "--from-seq", "x1"], env)).code).toBe(2);
  });

  it("a missing org id is a usage error (exit 2); a refused mint exits 1 with its code", async () => {
    const env = fresh();
    expect((await run(["org", "create", "7", "--init"], env)).code).toBe(0);
    expect((await run(["token", "mint"], env)).code).toBe(2);
    const bad = await run(
      ["token", "mint", "--org", "7", "--expiry", "1h", "--caveats", '[{"type":"Nope"}]'],
      env,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid_request");
    const json = await run(["token", "mint", "--org", "7", "--caveats", "{", "--json"], env);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { exit: 2 } });
  });

  it("a missing or malformed KEK is a usage error (exit 2) naming the variable, never echoing the value", async () => {
    const env = fresh();
    const missing = await run(["org", "create", "5", "--init"], {
      TKDB_DATA_DIR: env.TKDB_DATA_DIR as string,
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("TKDB_KEK");
    const secretish = "zz".repeat(31);
    const bad = await run(["org", "create", "5", "--init"], { ...env, TKDB_KEK: secretish });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("TKDB_KEK");
    expect(bad.stderr).not.toContain(secretish);
  });

  it("a wrong KEK is refused (exit 1, wrong_kek) and changes nothing", async () => {
    const env = fresh();
    expect((await run(["org", "create", "5", "--init"], env)).code).toBe(0);
    const wrong = await run(["org", "create", "6"], { ...env, TKDB_KEK: hex(randomBytes(32)) });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("wrong_kek");
    expect(JSON.parse((await run(["audit", "verify"], env)).stdout)).toMatchObject({ ok: true });
    // Refused before the log was opened: the one org_create is all there is.
    expect((await auditOutcomes(env)).map((d) => [d.op, d.outcome])).toEqual([["org_create", "ok"]]);
  });

  it("serve runs until its signal aborts; token verify talks to it (revoked: exit 1; nothing there: exit 3)", async () => {
    const env = { ...fresh(), TKDB_PORT: "0", TKDB_NOISE_KEY: hex(nc.generateKeyPair().secretKey) };
    expect((await run(["org", "create", "5", "--init"], env)).code).toBe(0);
    const minted = JSON.parse(
      (await run(["token", "mint", "--org", "5", "--expiry", "1h", "--json"], env)).stdout,
    ) as {
      token: string;
    };
    const stop = new AbortController();
    const out = buffer();
    const served = runCli(cli, {
      argv: ["serve"],
      env,
      stdout: out,
      stderr: buffer(),
      cwd: t.dir,
      signal: stop.signal,
    });
    try {
      for (let i = 0; i < 600 && !out.text.includes("\n"); i++) await new Promise((r) => setTimeout(r, 50));
      const banner = JSON.parse(out.text) as { url: string; publicKey: string };
      const online = { TKDB_URL: banner.url, TKDB_SERVER_PUBLIC_KEY: banner.publicKey };
      const ok = await run(["token", "verify", `FlyV1 ${minted.token}`, "--json"], online);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ org: "5" });
      expect((await run(["token", "revoke", `FlyV1 ${minted.token}`], env)).code).toBe(0);
      const revoked = await run(["token", "verify", `FlyV1 ${minted.token}`], online);
      expect(revoked.code).toBe(1);
      expect(revoked.stderr).toContain("revoked");
    } finally {
      stop.abort();
    }
    expect(await served).toBe(0);
    const gone = await run(["token", "verify", `FlyV1 ${minted.token}`], {
      TKDB_URL: "http://127.0.0.1:1",
      TKDB_SERVER_PUBLIC_KEY: hex(nc.generateKeyPair().publicKey),
    });
    expect(gone.code).toBe(3);
  }, 60_000);

  it("serve on a port already in use exits 1 naming the port and TKDB_PORT (as petsem serve does)", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as AddressInfo).port;
    try {
      const env = {
        ...fresh(),
        TKDB_PORT: String(port),
        TKDB_NOISE_KEY: hex(nc.generateKeyPair().secretKey),
      };
      expect((await run(["org", "create", "5", "--init"], env)).code).toBe(0);
      const r = await run(["serve"], env);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(r.stderr).toContain(`TKDB_PORT=${port}`);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  }, 60_000);
});

describe("tkdb entry points", () => {
  it("importing src/cli.ts runs nothing (tests drive the runner themselves)", async () => {
    const before = process.exitCode;
    const mod = await import("../src/cli.js");
    expect(mod.cli.name).toBe("tkdb");
    expect(process.exitCode).toBe(before);
  });

  it("the bin shim runs the CLI as a process and sets its exit code (--version 0, unknown command 2)", async () => {
    const { spawn } = await import("node:child_process");
    const bin = new URL("../bin/tkdb.mjs", import.meta.url).pathname;
    const exec = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const p = spawn(process.execPath, [bin, ...args], {
          cwd: t.dir,
          stdio: ["ignore", "pipe", "ignore"],
        });
        let stdout = "";
        p.stdout.on("data", (d: Buffer) => {
          stdout += d;
        });
        p.on("exit", (code) => resolve({ code, stdout }));
      });
    const v = await exec(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect((await exec(["frobnicate"])).code).toBe(2);
  }, 60_000);
});
