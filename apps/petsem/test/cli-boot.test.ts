/**
 * `petsem boot` (flyd's role) and the online commands' errors, against a RUNNING petsem on loopback,
 * in process through runPetsemCli; boot's child is `node -e`.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OnlinePetsem, petsemCli, type Ran, startOnline } from "./cli-online.js";

let p: OnlinePetsem;
const APP = "42";
const VALUE = `marker-${randomBytes(12).toString("hex")}`;

beforeAll(async () => {
  p = await startOnline();
  const r = await run(["secrets", "set", "--org", "7", "--app", APP, "DATABASE_URL=-"], { stdin: VALUE });
  if (r.code !== 0) throw new Error(r.err);
}, 60_000);

afterAll(async () => {
  await p?.close();
});

function run(
  argv: string[],
  opts: { stdin?: string; env?: Record<string, string | undefined> } = {},
): Promise<Ran> {
  const env = Object.fromEntries(
    Object.entries({ ...p.env, ...opts.env }).filter((e): e is [string, string] => e[1] !== undefined),
  );
  return petsemCli(argv, env, { cwd: p.dir, ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }) });
}

const node = (script: string) => ["--", process.execPath, "-e", script];
const bootArgs = (discharge: string) => ["boot", "--org", "7", "--app", APP, "--discharge", discharge];

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe("petsem boot", () => {
  it("runs the command with the app's secrets in its environment and exits with the command's exit code", async () => {
    const script = `process.exit(process.env.DATABASE_URL === ${JSON.stringify(VALUE)} ? 7 : 1)`;
    const r = await run([...bootArgs(p.discharge(7n, 42n)), ...node(script)]);
    expect(r.code, r.err).toBe(7);
  });

  it("prints no value: its own stdout is empty and stderr only says how many secrets it resolved", async () => {
    const r = await run([...bootArgs(p.discharge(7n, 42n)), ...node("process.exit(0)")]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("");
    expect(r.err).toContain("resolved 1 secrets");
    expect(r.err).not.toContain(VALUE);
  });

  it("gives the command no PETSEM_* or TKDB_* variable (no petsem credential), the rest of the environment, and the secrets", async () => {
    const file = join(p.dir, "child-env.json");
    const script = `require("fs").writeFileSync(${JSON.stringify(file)}, JSON.stringify(process.env))`;
    const r = await run([...bootArgs(p.discharge(7n, 42n)), ...node(script)], {
      env: { KEEP_ME: "yes", TKDB_CLIENT_KEY: "11".repeat(32) },
    });
    expect(r.code, r.err).toBe(0);
    const env = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    expect(Object.keys(env).filter((k) => /^(PETSEM|TKDB)_/.test(k))).toEqual([]);
    expect(env).toMatchObject({ KEEP_ME: "yes", DATABASE_URL: VALUE });
  });

  it("exits with 128 + the signal number when a signal ends the command", async () => {
    const r = await run([...bootArgs(p.discharge(7n, 42n)), ...node('process.kill(process.pid, "SIGTERM")')]);
    expect(r.code, r.err).toBe(128 + 15);
  });

  it("reads the discharge from stdin with --discharge -", async () => {
    const r = await run([...bootArgs("-"), ...node("process.exit(3)")], {
      stdin: `${p.discharge(7n, 42n)}\n`,
    });
    expect(r.code, r.err).toBe(3);
  });

  it("without --discharge is a usage error (exit 2) that names --discharge", async () => {
    const r = await run(["boot", "--org", "7", "--app", APP, ...node("process.exit(0)")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--discharge");
  });

  it("a discharge that does not discharge this reader token's caveat is refused saying a tkdb discharge is missing", async () => {
    const other = p.petsem.authority.mintReader();
    const r = await run([...bootArgs(p.discharge(7n, 42n, other)), ...node("process.exit(0)")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("a tkdb discharge is missing");
    expect(r.err).not.toContain("no valid petsem token");
  });

  it("a discharge for another app is refused (exit 1) and the command does not run", async () => {
    const file = join(p.dir, `ran-${randomBytes(4).toString("hex")}`);
    const r = await run([
      ...bootArgs(p.discharge(7n, 43n)),
      ...node(`require("fs").writeFileSync(${JSON.stringify(file)}, "x")`),
    ]);
    expect(r.code).toBe(1);
    expect(() => readFileSync(file)).toThrow();
  });

  it("--min-version past what petsem has is refused as stale (exit 3): never older secrets", async () => {
    const r = await run([
      "boot",
      "--org",
      "7",
      "--app",
      APP,
      "--discharge",
      p.discharge(7n, 42n),
      "--min-version",
      "999",
      ...node("process.exit(0)"),
    ]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("stale");
  });

  it("without a reader token is a usage error (exit 2) naming PETSEM_READER_TOKEN", async () => {
    const r = await run([...bootArgs(p.discharge(7n, 42n)), ...node("process.exit(0)")], {
      env: { PETSEM_READER_TOKEN: undefined },
    });
    expect(r.code).toBe(2);
    expect(r.err).toContain("PETSEM_READER_TOKEN");
  });

  it("a command that cannot be run is refused (exit 1) naming it", async () => {
    const r = await run([...bootArgs(p.discharge(7n, 42n)), "--", "/nonexistent/petsem-test-cmd"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("/nonexistent/petsem-test-cmd");
  });
});

describe("online commands: errors say what failed, where and what next", () => {
  it("without PETSEM_PUBLIC_KEY: usage error (exit 2) naming the variable", async () => {
    const r = await run(["secrets", "list", "--org", "7", "--app", APP], {
      env: { PETSEM_PUBLIC_KEY: undefined },
    });
    expect(r.code).toBe(2);
    expect(r.err).toContain("PETSEM_PUBLIC_KEY");
  });

  it("nothing listening at PETSEM_URL: exit 3 naming the URL and how to start petsem", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await run(["secrets", "list", "--org", "7", "--app", APP], { env: { PETSEM_URL: url } });
    expect(r.code).toBe(3);
    expect(r.err).toContain(url);
    expect(r.err).toContain("npm start");
  });

  it("a PETSEM_PUBLIC_KEY that is not the server's: refused, naming PETSEM_PUBLIC_KEY", async () => {
    const r = await run(["secrets", "list", "--org", "7", "--app", APP], {
      env: { PETSEM_PUBLIC_KEY: "22".repeat(32) },
    });
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("PETSEM_PUBLIC_KEY");
  });

  it("without a writer token: usage error (exit 2) naming PETSEM_WRITER_TOKEN and how to mint one", async () => {
    const r = await run(["secrets", "list", "--org", "7", "--app", APP], {
      env: { PETSEM_WRITER_TOKEN: undefined },
    });
    expect(r.code).toBe(2);
    expect(r.err).toContain("PETSEM_WRITER_TOKEN");
    expect(r.err).toContain("token mint --writer");
  });

  it("the writer token is read from PETSEM_WRITER_TOKEN_FILE or, with --token-stdin, from stdin", async () => {
    const file = join(p.dir, "writer.token");
    writeFileSync(file, `${p.env.PETSEM_WRITER_TOKEN}\n`, { mode: 0o600 });
    const viaFile = await run(["secrets", "list", "--org", "7", "--app", APP, "--json"], {
      env: { PETSEM_WRITER_TOKEN: undefined, PETSEM_WRITER_TOKEN_FILE: file },
    });
    expect(viaFile.code, viaFile.err).toBe(0);
    const viaStdin = await run(["secrets", "list", "--org", "7", "--app", APP, "--token-stdin", "--json"], {
      env: { PETSEM_WRITER_TOKEN: undefined },
      stdin: p.env.PETSEM_WRITER_TOKEN,
    });
    expect(viaStdin.code, viaStdin.err).toBe(0);
    expect(JSON.parse(viaStdin.out).secrets[0].name).toBe("DATABASE_URL");
  });

  it("a token petsem did not mint is refused (exit 1) with a hint about which token to use", async () => {
    const r = await run(["secrets", "list", "--org", "7", "--app", APP], {
      env: { PETSEM_WRITER_TOKEN: p.petsem.authority.mintWriter().slice(0, -4) },
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain("unauthorized");
    expect(r.err).toContain("next:");
  });

  it("serve on a port in use fails before the banner, naming the port and PETSEM_PORT (exit 1)", async () => {
    const keys = await run(["keygen", "--json"], { env: {} });
    const k = JSON.parse(keys.out) as Record<string, string>;
    const port = new URL(p.petsem.url).port;
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 60_000);
    const r = await run(["serve"], {
      env: {
        PETSEM_KEK: k.PETSEM_KEK,
        PETSEM_NOISE_KEY: k.PETSEM_NOISE_KEY,
        PETSEM_DATA_DIR: join(p.dir, "second"),
        PETSEM_PORT: port,
      },
    });
    clearTimeout(timer);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain(`port ${port}`);
    expect(r.err).toContain("PETSEM_PORT");
  }, 60_000);
});
