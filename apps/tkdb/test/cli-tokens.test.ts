/**
 * The offline token commands and every command's --help, in-process (runCli, no subprocess):
 * inspect shows dates beside epoch seconds and expired / not-yet-valid markers and refuses a
 * non-token without echoing it; attenuate keeps a header's discharges; mint refuses a token that
 * never expires unless told; dev login refuses outside development; nothing creates a database.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { flyRegistry } from "@tkdb/caveats";
import {
  caveatSetToJSON,
  dischargeTicket,
  encodeAuthorizationHeader,
  Macaroon,
  parseAuthorizationHeader,
  ValidityWindow,
} from "@tkdb/macaroon";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../src/cli/index.js";
import { randomBytes } from "../src/crypto.js";
import { DEFAULT_LOCATION } from "../src/env.js";
import { runTkdb } from "./cli-run.js";
import { tempDir } from "./helpers.js";

const t = tempDir();
afterAll(() => t.cleanup());
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const run = (argv: string[], env: Record<string, string> = {}, stdin?: string) =>
  runTkdb(argv, { env, cwd: t.dir, ...(stdin === undefined ? {} : { stdin }) });

const now = Math.floor(Date.now() / 1000);
/** A permission token with one window (offline: signatures are not checked by inspect). */
function token(notBefore: number, notAfter: number): Macaroon {
  return Macaroon.mint({
    key: randomBytes(32),
    kid: randomBytes(16),
    location: DEFAULT_LOCATION,
    caveats: [new ValidityWindow(BigInt(notBefore), BigInt(notAfter))],
    registry: flyRegistry,
  });
}
const iso = (s: number) => new Date(s * 1000).toISOString().replace(".000Z", "Z");

type Cmd = { name: string; options?: readonly { flags: string }[]; commands?: readonly Cmd[]; run?: unknown };
function runnable(cmds: readonly Cmd[], path: string[] = []): { path: string[]; cmd: Cmd }[] {
  return cmds.flatMap((c) =>
    c.run !== undefined
      ? [{ path: [...path, c.name], cmd: c }]
      : runnable(c.commands ?? [], [...path, c.name]),
  );
}

describe("tkdb CLI help", () => {
  const all = runnable(cli.commands as readonly Cmd[]);

  it("every command's --help exits 0 and lists each of its flags", async () => {
    expect(all.map((c) => c.path.join(" "))).toEqual(
      expect.arrayContaining(["token mint", "token verify", "token revoke", "discharge", "dev login"]),
    );
    for (const { path, cmd } of all) {
      const r = await run([...path, "--help"]);
      expect(r.code, path.join(" ")).toBe(0);
      expect(r.stdout, path.join(" ")).toContain(`Usage: tkdb ${path.join(" ")}`);
      expect(r.stdout, path.join(" ")).toContain("Examples:");
      for (const o of cmd.options ?? []) {
        const long = /--[a-z-]+/.exec(o.flags)?.[0] as string;
        expect(r.stdout, `${path.join(" ")} ${long}`).toContain(long);
      }
    }
  });

  it("the top-level help lists the new commands and the exit codes", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    for (const w of ["discharge", "dev", "Exit codes:", "3  service unreachable"])
      expect(r.stdout).toContain(w);
  });
});

describe("tkdb token inspect", () => {
  it("shows each window as ISO dates beside epoch seconds, marking an expired token", async () => {
    const m = token(now - 7200, now - 3600);
    const r = await run(["token", "inspect", m.toString()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${iso(now - 7200)} (${now - 7200})`);
    expect(r.stdout).toContain(`${iso(now - 3600)} (${now - 3600})`);
    expect(r.stdout).toContain("EXPIRED");
  });

  it("marks a token that is not valid yet, and --at judges it at another time", async () => {
    const m = token(now + 3600, now + 7200);
    const r = await run(["token", "inspect", m.toString()]);
    expect(r.stdout).toContain("NOT YET VALID");
    const later = await run(["token", "inspect", m.toString(), "--at", iso(now + 5000), "--json"]);
    expect(JSON.parse(later.stdout)).toMatchObject({ status: "valid" });
  });

  it("--json gives role, status and each window with epoch and ISO bounds", async () => {
    const m = token(now - 60, now + 3600);
    const r = await run(["token", "inspect", `FlyV1 ${m.toString()}`, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      role: "permission",
      unverified: true,
      status: "valid",
      windows: [{ caveat: 0, not_after: now + 3600, not_after_iso: iso(now + 3600), expired: false }],
    });
  });

  it("reads the token from stdin with -, so it stays out of shell history", async () => {
    const r = await run(
      ["token", "inspect", "-", "--json"],
      {},
      `FlyV1 ${token(now, now + 60).toString()}\n`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ role: "permission" });
  });

  it("a non-token exits 1 with a typed message that never echoes the input", async () => {
    for (const garbage of ["garbage-secret-text", "fm2_bm90IGEgbWFjYXJvb24=", "FlyV1 "]) {
      const r = await run(["token", "inspect", garbage]);
      expect(r.code, garbage).toBe(1);
      expect(r.stderr).toMatch(/not a macaroon|malformed|no token/);
      if (garbage.trim() !== "FlyV1") expect(r.stderr).not.toContain(garbage.slice(4));
    }
  });
});

describe("tkdb token attenuate", () => {
  it("attenuates a full FlyV1 header's permission token and keeps its discharges as they were", async () => {
    const perm = token(now - 60, now + 3600);
    const ka = randomBytes(32);
    const ticket = perm.add3P(ka, "https://auth.example", []);
    const dis = dischargeTicket(ka, "https://auth.example", ticket, { registry: flyRegistry }).discharge;
    const header = encodeAuthorizationHeader([perm, dis]);
    const r = await run(["token", "attenuate", header, '[{"type":"Apps","body":{"apps":{"7":"r"}}}]']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith("FlyV1 ")).toBe(true);
    const out = parseAuthorizationHeader(r.stdout.trim(), { registry: flyRegistry });
    expect(out).toHaveLength(2);
    const [p, d] = out.map((x) => (x.kind === "macaroon" ? x.macaroon : undefined));
    expect(caveatSetToJSON(p?.unsafeCaveats ?? [], flyRegistry).at(-1)).toEqual({
      type: "Apps",
      body: { apps: { 7: "r" } },
    });
    expect(p?.nonce.encode()).toEqual(perm.nonce.encode());
    expect(d?.toString()).toBe(dis.toString());
  });

  it("a bare token stays a bare token; --caveats and stdin work too", async () => {
    const r = await run(["token", "attenuate", "-", "--caveats", "[]"], {}, token(now, now + 60).toString());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fm2_\S+\n$/);
    expect(r.stderr).not.toContain("shell history");
    const argv = await run(["token", "attenuate", token(now, now + 60).toString(), "[]", "--json"]);
    expect(JSON.parse(argv.stdout)).toEqual({ token: expect.stringMatching(/^fm2_/) });
    const noted = await run(["token", "attenuate", token(now, now + 60).toString(), "[]"]);
    expect(noted.stderr).toContain("stays in your shell history");
  });
});

describe("tkdb local and development guards", () => {
  it("token mint refuses a never-expiring token without --unrestricted (exit 2, saying what to add), before touching any database", async () => {
    const env = { TKDB_DATA_DIR: join(t.dir, "none"), TKDB_KEK: hex(randomBytes(32)) };
    for (const argv of [
      ["token", "mint", "--org", "5"],
      ["token", "mint", "--org=5", "--app=7"],
      ["token", "mint", "5", "[]"],
    ]) {
      const r = await run(argv, env);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toContain("never expires");
      expect(r.stderr).toContain("--expiry");
      expect(r.stderr).toContain("--unrestricted");
    }
    const bad = await run(["token", "mint", "--org", "5", "--expiry", "soon"], env);
    expect(bad.code).toBe(2);
    expect(existsSync(env.TKDB_DATA_DIR)).toBe(false);
  });

  it("dev login refuses outside development (no NODE_ENV=development, no dev env file) and under production", async () => {
    const base = { TKDB_DEV_AUTH_KEY: hex(randomBytes(32)) };
    for (const env of [base, { ...base, NODE_ENV: "production" }, { ...base, NODE_ENV: "test" }]) {
      const r = await run(["dev", "login", "--org", "5", "--user", "42"], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("development only");
      expect(r.stderr).toContain("NODE_ENV");
      expect(r.stdout).toBe("");
    }
  });

  it("npm start's development env file marks development for dev login (it then needs a running tkdb: exit 3)", async () => {
    const repo = join(t.dir, "repo");
    mkdirSync(join(repo, "data"), { recursive: true });
    writeFileSync(join(repo, "pnpm-workspace.yaml"), "packages: []\n");
    const serverKey = hex(randomBytes(32));
    writeFileSync(
      join(repo, "data", "dev.env"),
      `TKDB_URL=http://127.0.0.1:1\nTKDB_SERVER_PUBLIC_KEY=${serverKey}\nTKDB_CLIENT_KEY=${hex(randomBytes(32))}\nTKDB_DEV_AUTH_KEY=${hex(randomBytes(32))}\n`,
      { mode: 0o600 },
    );
    const r = await runTkdb(["dev", "login", "--org", "5", "--user", "42"], { cwd: repo });
    expect(r.stderr).toContain("using development settings");
    expect(r.stderr).not.toContain("development only");
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("http://127.0.0.1:1");
    const prod = await runTkdb(["dev", "login", "--org", "5", "--user", "42"], {
      cwd: repo,
      env: { NODE_ENV: "production" },
    });
    expect(prod.code).toBe(1);
  });
});
