import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type CliIo, defineCli, runCli } from "../src/cli.js";
import { CliError, exitCodeFor } from "../src/cli-output.js";
import { defineConfig, key32, port, url } from "../src/config.js";
import { intParser } from "../src/config-kinds.js";
import { ConfigError, ServiceError } from "../src/errors.js";

const TOKEN = "FlyV1 fm2_lJPECAAAAAAAAMiOxBCu2Q9kq7WbqcVtETRSZFkmxBBuRE5aQ2xP3k9vR8sT1uW4yZ6b7c";
const HEX = "11".repeat(32);
const work = mkdtempSync(join(tmpdir(), "service-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const globalEnv = defineConfig({
  url: url("T_URL", { default: "http://127.0.0.1:7401", doc: "the service's URL" }),
});
const keyEnv = defineConfig({
  kek: key32("T_KEK", { required: true, doc: "key-encryption key" }),
  port: port("T_PORT", { default: 7401, doc: "listen port" }),
});

let served: AbortSignal | undefined;

const cli = defineCli({
  name: "tk",
  version: "1.2.3",
  description: "a test CLI built the way tkdb and petsem build theirs",
  env: globalEnv,
  envPrefixes: ["T_"],
  examples: ["tk token mint --org 5 --writer"],
  commands: [
    {
      name: "token",
      description: "mint and check tokens",
      commands: [
        {
          name: "mint",
          description: "mint a token",
          options: [
            {
              flags: "--org <id>",
              description: "organization id",
              required: true,
              parse: intParser({ min: 1 }),
            },
            {
              flags: "--kind <kind>",
              description: "token kind",
              choices: ["writer", "reader"],
              default: "writer",
            },
            { flags: "--dry-run", description: "print, do not record" },
          ],
          examples: ["tk token mint --org 5", "tk token mint --org=5 --kind reader"],
          run: (ctx) => ({ org: ctx.opts.org, kind: ctx.opts.kind, dryRun: ctx.opts.dryRun === true }),
          human: (r: { org: number; kind: string }) => `minted a ${r.kind} token for org ${r.org}\n`,
        },
        {
          name: "verify",
          aliases: ["check"],
          description: "verify a token header",
          args: [{ name: "header", description: "FlyV1 header" }],
          examples: ["tk token verify 'FlyV1 fm2_…'"],
          run: () => {
            throw new ServiceError("revoked", "token revoked");
          },
        },
      ],
    },
    {
      name: "ping",
      description: "call the service",
      examples: ["tk ping"],
      run: (ctx) => {
        const where = ctx.config(globalEnv).url;
        throw new TypeError("fetch failed", {
          cause: Object.assign(new Error(`connect ECONNREFUSED ${where}`), { code: "ECONNREFUSED" }),
        });
      },
    },
    {
      name: "keys",
      description: "show the configured keys",
      env: keyEnv,
      examples: ["T_KEK_FILE=/run/keys/kek tk keys"],
      run: (ctx) => {
        const c = ctx.config(keyEnv);
        return { kekBytes: c.kek.length, port: c.port };
      },
    },
    {
      name: "echo",
      description: "stdin to stdout",
      examples: ["printf x | tk echo"],
      run: async (ctx) => (await ctx.readStdin(16)).toUpperCase(),
    },
    {
      name: "boom",
      description: "fails unexpectedly",
      examples: ["tk boom"],
      run: () => {
        throw new Error(`cannot parse ${TOKEN}`);
      },
    },
    {
      name: "restore",
      description: "refuses with where and next",
      examples: ["tk restore"],
      run: () => {
        throw CliError.refused("the restored copy does not open with the KEK", {
          where: "/data/tkdb.db.restored",
          hint: "check T_KEK, or restore an older generation",
        });
      },
    },
    {
      name: "serve",
      description: "runs until stopped",
      examples: ["tk serve"],
      run: async (ctx) => {
        served = ctx.signal;
        await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r(), { once: true }));
        return "stopped";
      },
    },
  ],
});

async function run(argv: string[], env: Record<string, string> = {}, extra: Partial<CliIo> = {}) {
  let out = "";
  let err = "";
  const code = await runCli(cli, {
    argv,
    env,
    cwd: work,
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    ...extra,
  });
  return { code, out, err };
}

let exitSpy: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  exitSpy = vi.spyOn(process, "exit").mockImplementation(() => {
    throw new Error("process.exit called");
  });
});
afterEach(() => {
  expect(exitSpy).not.toHaveBeenCalled();
  exitSpy.mockRestore();
});

describe("runner basics", () => {
  it("runs a command in-process and prints readable output by default (exit 0)", async () => {
    expect(await run(["token", "mint", "--org", "5"])).toEqual({
      code: 0,
      out: "minted a writer token for org 5\n",
      err: "",
    });
  });

  it("--json prints the command's value as JSON, wherever the flag is", async () => {
    for (const argv of [
      ["--json", "token", "mint", "--org=7", "--kind", "reader"],
      ["token", "mint", "--org=7", "--kind=reader", "--json"],
    ]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toEqual({ org: 7, kind: "reader", dryRun: false });
    }
  });

  it("--org=5 and --org 5 are the same", async () => {
    expect((await run(["token", "mint", "--org=5", "--json"])).out).toBe(
      (await run(["token", "mint", "--org", "5", "--json"])).out,
    );
  });

  it("a renamed command keeps its old name (alias)", async () => {
    expect((await run(["token", "check", "x"])).code).toBe(1);
  });

  it("reads stdin (bounded)", async () => {
    const stdin = (async function* () {
      yield "ab";
      yield Buffer.from("c");
    })();
    expect(await run(["echo"], {}, { stdin })).toMatchObject({ code: 0, out: "ABC\n" });
    const big = (async function* () {
      yield "x".repeat(17);
    })();
    expect(await run(["echo"], {}, { stdin: big })).toMatchObject({ code: 2 });
  });

  it("a long-running command stops when the signal aborts", async () => {
    const ac = new AbortController();
    const p = run(["serve"], {}, { signal: ac.signal });
    await vi.waitFor(() => expect(served).toBe(ac.signal), { timeout: 10_000 });
    ac.abort();
    expect(await p).toMatchObject({ code: 0, out: "stopped\n" });
  });

  it("defineCli refuses a command without an example, and a command with both run and subcommands", () => {
    expect(() =>
      defineCli({
        name: "x",
        version: "1",
        description: "d",
        commands: [{ name: "a", description: "a", run: () => 1 }],
      }),
    ).toThrow(/example/);
    expect(() =>
      defineCli({
        name: "x",
        version: "1",
        description: "d",
        commands: [{ name: "a", description: "a", examples: ["x a"], run: () => 1, commands: [] }],
      }),
    ).not.toThrow();
  });
});

describe("help, version, suggestions (exit 0 / 2)", () => {
  it("--version prints the version", async () => {
    expect(await run(["--version"])).toEqual({ code: 0, out: "1.2.3\n", err: "" });
  });

  it("top-level help lists commands, the environment with defaults, examples and exit codes", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: tk [options] [command]");
    expect(r.out).toMatch(/token\s+mint and check tokens/);
    expect(r.out).toMatch(
      /Environment:\n\s+T_URL\s+the service's URL \(url; default: http:\/\/127\.0\.0\.1:7401\)/,
    );
    expect(r.out).toContain("Examples:\n  tk token mint --org 5 --writer");
    expect(r.out).toContain("3  service unreachable");
  });

  it("help at every level: a group and a leaf command, with flags, environment and examples", async () => {
    const group = await run(["token", "--help"]);
    expect(group.code).toBe(0);
    expect(group.out).toMatch(/mint \[options\]\s+mint a token/);
    const leaf = await run(["token", "mint", "--help"]);
    expect(leaf.out).toContain("--org <id>");
    expect(leaf.out).toContain("Examples:\n  tk token mint --org 5\n  tk token mint --org=5 --kind reader");
    const keys = await run(["help", "keys"]);
    expect(keys.code).toBe(0);
    expect(keys.out).toMatch(/T_KEK, T_KEK_FILE\s+key-encryption key \(key32; required\)/);
    expect(keys.out).toMatch(/T_PORT\s+listen port \(port; default: 7401\)/);
  });

  it("a mistyped command or option gets a suggestion and exit 2", async () => {
    const cmd = await run(["tokn"]);
    expect(cmd.code).toBe(2);
    expect(cmd.err).toContain("unknown command 'tokn'");
    expect(cmd.err).toContain("(Did you mean token?)");
    const sub = await run(["token", "mnt"]);
    expect(sub.err).toContain("(Did you mean mint?)");
    const opt = await run(["token", "mint", "--org", "5", "--kindd", "reader"]);
    expect(opt.code).toBe(2);
    expect(opt.err).toContain("unknown option '--kindd'");
    expect(opt.err).toContain("(Did you mean --kind?)");
  });

  it("missing arguments, missing required options and a group without subcommand are usage errors", async () => {
    expect((await run(["token", "verify"])).code).toBe(2);
    expect((await run(["token", "mint"])).code).toBe(2);
    const group = await run(["token"]);
    expect(group.code).toBe(2);
    expect(group.err).toContain("Usage: tk token");
  });

  it("a bad option value is a usage error that names the flag and does not echo the value", async () => {
    const r = await run(["token", "mint", "--org", "hunter2"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--org must be a whole number");
    expect(r.err).not.toContain("hunter2");
    const c = await run(["token", "mint", "--org", "1", "--kind", "hunter2"]);
    expect(c.code).toBe(2);
    expect(c.err).toContain("--kind must be one of writer, reader");
    expect(c.err).not.toContain("hunter2");
  });
});

describe("exit codes and error output", () => {
  it("a refusal from the service exits 1 with its code and a next step", async () => {
    const r = await run(["token", "verify", "x"]);
    expect(r).toMatchObject({ code: 1, out: "" });
    expect(r.err).toBe("tk: error: revoked: token revoked\n  next: this token was revoked; get a new one\n");
  });

  it("an unreachable service exits 3 and says where and what to do", async () => {
    const r = await run(["ping"], { T_URL: "http://127.0.0.1:9" });
    expect(r.code).toBe(3);
    expect(r.err).toContain("the service could not be reached");
    expect(r.err).toContain("next: check the URL variable");
  });

  it("a bad or missing environment variable exits 2, naming the variable and pointing to --help", async () => {
    const r = await run(["keys"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("T_KEK is required (set T_KEK or T_KEK_FILE)");
    expect(r.err).toContain("where: T_KEK");
    expect(r.err).toContain("--help");
    const ok = await run(["keys", "--json"], { T_KEK: HEX, T_PORT: "8000", T_PROT: "1", T_URL: "http://x" });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toEqual({ kekBytes: 32, port: 8000 });
    // T_URL belongs to the CLI-wide spec: known, so not warned about.
    expect(ok.err).toBe("tk: warning: T_PROT is not a variable this program reads (did you mean T_PORT?)\n");
  });

  it("a command's CliError shows what failed, where and what next", async () => {
    const r = await run(["restore"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      "tk: error: the restored copy does not open with the KEK\n  where: /data/tkdb.db.restored\n  next: check T_KEK, or restore an older generation\n",
    );
  });

  it("with --json, errors are one JSON object on stderr", async () => {
    const r = await run(["--json", "token", "verify", "x"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.err)).toEqual({
      error: {
        code: "revoked",
        message: "token revoked",
        hint: "this token was revoked; get a new one",
        exit: 1,
      },
    });
  });

  it("an unexpected error exits 1 and never prints material from its message", async () => {
    const r = await run(["boom"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("unexpected error (Error): cannot parse [redacted]");
    expect(r.err).not.toContain("fm2_");
  });

  it("exitCodeFor maps error kinds to 1, 2, 3", () => {
    expect(exitCodeFor(CliError.usage("x"))).toBe(2);
    expect(exitCodeFor(new ConfigError([{ variable: "X", problem: "p" }]))).toBe(2);
    expect(exitCodeFor(new ServiceError("unavailable", "busy"))).toBe(3);
    expect(exitCodeFor(new ServiceError("not_primary", "replica"))).toBe(3);
    expect(exitCodeFor(Object.assign(new Error("x"), { name: "NoiseTransportError" }))).toBe(3);
    expect(exitCodeFor({ code: "forbidden", message: "no" })).toBe(1);
    expect(exitCodeFor(new Error("x"))).toBe(1);
  });
});

describe("development env file", () => {
  const repo = join(work, "repo");
  mkdirSync(join(repo, "data"), { recursive: true });
  writeFileSync(join(repo, "pnpm-workspace.yaml"), "");
  writeFileSync(join(repo, "data", "dev.env"), `T_KEK=${HEX}\nT_PORT=7777\n`);
  chmodSync(join(repo, "data", "dev.env"), 0o600);

  it("inside the repository the file is used, explicit variables win, and the CLI names the file", async () => {
    const r = await run(["keys", "--json"], { T_PORT: "8000" }, { cwd: join(repo, "data") });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ kekBytes: 32, port: 8000 });
    const human = await run(["keys"], {}, { cwd: repo });
    expect(human.err).toBe(
      `tk: using development settings from ${join(repo, "data", "dev.env")} (environment variables win)\n`,
    );
    expect(human.out).toContain("port:     7777");
  });

  it("NODE_ENV=production ignores the file", async () => {
    const r = await run(["keys"], { NODE_ENV: "production" }, { cwd: repo });
    expect(r.code).toBe(2);
    expect(r.err).not.toContain("development settings");
  });
});
