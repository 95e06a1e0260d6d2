import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "../src/crypto.js";
import { caller, nc, randomNonceId, tempDir } from "./helpers.js";

const APP = fileURLToPath(new URL("..", import.meta.url));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const t = tempDir();
afterAll(() => t.cleanup());

const client = nc.generateKeyPair();
const env = {
  ...process.env,
  TKDB_DATA_DIR: t.dir,
  TKDB_PORT: "0",
  TKDB_NOISE_KEY: hex(nc.generateKeyPair().secretKey),
  TKDB_KEK: hex(randomBytes(32)),
  TKDB_SIGN_CLIENTS: hex(client.publicKey),
};

function cli(args: string[], extra: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
    cwd: APP,
    env: { ...env, ...extra },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function run(
  args: string[],
  extra: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = cli(args, extra);
    let stdout = "";
    let stderr = "";
    p.stdout?.on("data", (d: Buffer) => {
      stdout += d;
    });
    p.stderr?.on("data", (d: Buffer) => {
      stderr += d;
    });
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

function serve(): Promise<{ proc: ChildProcess; url: string; publicKey: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const proc = cli(["serve"]);
    proc.stderr?.resume();
    let buf = "";
    proc.stdout?.on("data", (d: Buffer) => {
      buf += d;
      const m = /\{[\s\S]*?\}/.exec(buf);
      if (m) {
        const info = JSON.parse(m[0]) as { url: string; publicKey: string };
        resolve({ proc, url: info.url, publicKey: new Uint8Array(Buffer.from(info.publicKey, "hex")) });
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

describe("crash safety (server as a child process)", () => {
  it("after kill -9 during a burst of revocations, every acknowledged revocation is present", async () => {
    const s = await serve();
    const c = caller(s.url, s.publicKey, client);
    const acked: string[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const nonce = randomNonceId();
        try {
          const r = await c.sign<{ nonce: string }>("revoke", { nonce });
          acked.push(r.nonce);
        } catch {
          return; // the server died mid-call: this one was not acknowledged
        }
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    while (acked.length < 60) await new Promise((r) => setTimeout(r, 5));
    const exited = new Promise((r) => s.proc.once("exit", r));
    s.proc.kill("SIGKILL");
    await Promise.all(workers);
    stop = true;
    await exited;

    const s2 = await serve();
    const c2 = caller(s2.url, s2.publicKey, client);
    const seen = new Set<string>();
    let cursor = "0";
    for (;;) {
      const page = await c2.verify<{ nonces: string[]; cursor: string }>("revocations", {
        cursor,
        limit: 500,
      });
      for (const n of page.nonces) seen.add(n);
      if (page.nonces.length === 0) break;
      cursor = page.cursor;
    }
    expect(acked.length).toBeGreaterThanOrEqual(60);
    expect(acked.filter((n) => !seen.has(n))).toEqual([]);
    // Local admin commands on the same database while the server runs; online verify sees them.
    const cliEnv = { TKDB_URL: s2.url, TKDB_SERVER_PUBLIC_KEY: hex(s2.publicKey) };
    const org = await run(["org", "create", "9", "--json"]);
    expect(org.code).toBe(0);
    expect(JSON.parse(org.stdout)).toMatchObject({ org: "9", created: true });
    const mint = await run([
      "token",
      "mint",
      "--org",
      "9",
      "--caveats",
      '[{"type":"Organization","body":{"id":9,"mask":"r"}}]',
      "--unrestricted",
      "--json",
    ]);
    expect(mint.code).toBe(0);
    const { token, nonce } = JSON.parse(mint.stdout) as { token: string; nonce: string };
    const ver = await run(["token", "verify", `FlyV1 ${token}`, "--json"], cliEnv);
    expect(JSON.parse(ver.stdout)).toMatchObject({ org: "9", nonce });
    const insp = await run(["token", "inspect", `FlyV1 ${token}`, "--json"]);
    expect(JSON.parse(insp.stdout)).toMatchObject({
      unverified: true,
      location: "https://api.fly.io/v1",
      nonce,
      caveats: [{ type: "Organization" }],
    });
    expect(JSON.parse((await run(["token", "revoke", `FlyV1 ${token}`, "--json"])).stdout)).toEqual({
      nonce,
      revoked: true,
      derived: [],
      requiredUntil: null,
    });
    const refused = await run(["token", "verify", `FlyV1 ${token}`], cliEnv);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("revoked");
    const wrongKek = await run(["org", "create", "10"], { TKDB_KEK: hex(randomBytes(32)) });
    expect(wrongKek.code).toBe(1);
    expect(wrongKek.stderr).toContain("wrong_kek");
    const badMint = await run(["token", "mint", "--org", "9", "--caveats", '[{"type":"Nope"}]']);
    expect(badMint.code).toBe(1);
    expect(badMint.stderr).toContain("invalid_request");
    s2.proc.kill("SIGTERM");
    await new Promise((r) => s2.proc.once("exit", r));

    const audit = await run(["audit", "verify"]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true });
    const exported = await run(["audit", "export"]);
    const docs = exported.stdout
      .trim()
      .split("\n")
      .filter((_, i) => i % 2 === 1)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // Every acknowledged revocation has its ok outcome; no intent is left without an outcome
    // (those the kill cut off were reconciled at the restart, from the database).
    const outcomes = docs.filter((d) => d.kind === "outcome");
    const served = outcomes.filter((d) => d.op === "revoke" && !String(d.actor).startsWith("cli:"));
    expect(served.filter((d) => d.outcome === "ok").length).toBeGreaterThanOrEqual(acked.length);
    const closed = new Set(outcomes.map((d) => `${d.node}:${d.intent_seq}`));
    const open = docs.filter((d) => d.kind === "intent" && !closed.has(`${d.node}:${d.seq}`));
    expect(open).toEqual([]);
    expect(
      outcomes
        .filter((d) => d.reconciled === true)
        .every((d) => d.outcome === "ok" || d.outcome === "aborted"),
    ).toBe(true);
    // The local commands are in the CLI's log as cli:<user>, the refused mint with its code.
    expect(
      outcomes
        .filter((d) => String(d.actor).startsWith("cli:"))
        .map((d) => [d.op, d.outcome, d.code ?? null]),
    ).toEqual([
      ["org_create", "ok", null],
      ["mint", "ok", null],
      ["revoke", "ok", null],
      ["mint", "refused", "invalid_request"],
    ]);
    // An edited line is caught.
    const seg = join(t.dir, "audit", "audit-000000000001.jsonl");
    const text = readFileSync(seg, "utf8").split("\n");
    const at = text.findIndex((l) => l.includes('"op":"revoke"'));
    text[at] = (text[at] as string).replace('"op":"revoke"', '"op":"revokd"');
    writeFileSync(seg, text.join("\n"));
    const broken = await run(["audit", "verify"]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("integrity");
    // A dozen CLI processes (node + tsx) start here: on a loaded 2-core machine that is ~1 minute.
  }, 300_000);

  it.each([
    ["src/cli.ts", "serve"],
    ["src/main.ts", ""],
  ])(
    "%s %s refuses to start without a KEK with the usage exit code 2, naming the variable",
    async (file, cmd) => {
      const p = spawn(process.execPath, ["--import", "tsx", file, ...(cmd ? [cmd] : [])], {
        cwd: APP,
        env: { ...env, TKDB_KEK: "" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      p.stderr?.on("data", (d: Buffer) => {
        stderr += d;
      });
      const code = await new Promise((r) => p.on("exit", r));
      expect(code).toBe(2);
      expect(stderr).toContain("TKDB_KEK");
    },
  );

  it("unknown CLI commands exit 2 with a usage message", async () => {
    const r = await run(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("usage");
  });
});
