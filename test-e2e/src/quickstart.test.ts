/**
 * The README's quickstart, verbatim, as a new user runs it: a fresh clone of this repository with
 * `../shared` beside it, `npm start` in one pseudo-terminal, and every command of the README's
 * "Quickstart" block in another (`script` from util-linux gives both a terminal), from the clone's
 * root, with no exports: the CLIs find the running services through the development env file
 * `npm start` writes. The only difference from a user's machine is the ports, moved through the
 * start overrides (TKDB_PORT, PETSEM_PORT) so the test never collides with a running `npm start`.
 *
 * The block's conventions, which the README explains to its reader too: a line ending in
 * `# exit N` must exit N (every other line must exit 0), and `# prints TEXT` means TEXT appears in
 * that command's output. The walk ends "org created, user logged in, secret set by the API writer,
 * machine booted with it, token revoked, next boot refused"; the test also scans the whole
 * transcript for the development keys, which must never be printed.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "./harness.js";

interface Step {
  readonly line: string;
  readonly exit: number;
  readonly prints: string[];
}

/** The first ```sh block under "## Quickstart", split into the server line and the steps. */
export function quickstartSteps(readme: string): { start: string; steps: Step[] } {
  const section = /^## Quickstart\b[^\n]*\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (section === undefined) throw new Error("README.md has no ## Quickstart section");
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error("the Quickstart section has no ```sh block");
  const joined = block.replace(/\\\n\s*/g, " ");
  const lines = joined
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const [start, ...rest] = lines;
  if (start === undefined || !/^npm start\b/.test(start))
    throw new Error("the block must begin with npm start");
  const steps = rest.map((raw): Step => {
    const exit = /#.*\bexit (\d+)\b/.exec(raw);
    const prints = [...raw.matchAll(/#.*?\bprints (\S+)/g)].map((m) => m[1] as string);
    return { line: raw, exit: exit ? Number(exit[1]) : 0, prints };
  });
  return { start, steps };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

/** A user's shell environment: nothing of this test's own configuration leaks into the walk. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(TKDB_|PETSEM_|OTEL_|VITEST|DATA_DIR$|NODE_ENV$|NODE_OPTIONS$|FORCE_COLOR$|npm_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra, TERM: "dumb", NO_COLOR: "1" };
}

const README = readFileSync(join(ROOT, "README.md"), "utf8");
const hasScript = (() => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe("the README quickstart, verbatim, in a pseudo-terminal from a fresh clone", () => {
  const dir = mkdtempSync(join(tmpdir(), "quickstart-"));
  const repo = join(dir, "repo");
  let server: ChildProcess | undefined;
  let serverOut = "";

  afterAll(async () => {
    if (server?.pid !== undefined && server.exitCode === null) {
      const exited = new Promise((r) => server?.once("exit", r));
      try {
        process.kill(-server.pid, "SIGINT"); // Ctrl-C, as the README says
      } catch {}
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      try {
        process.kill(-server.pid, "SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("parses: npm start, then the walk from org creation to a refused boot", () => {
    const { steps } = quickstartSteps(README);
    const text = steps.map((s) => s.line).join("\n");
    for (const cmd of ["org create", "dev login", "secrets set", "discharge", "boot", "revoke"])
      expect(text, cmd).toContain(cmd);
    expect(steps.at(-1)?.exit).toBe(1);
  });

  it.runIf(hasScript)(
    "clone → npm start → org created, user logged in, secret set by the writer, machine booted, token revoked, next boot refused",
    async () => {
      const { start, steps } = quickstartSteps(README);
      execFileSync("git", ["clone", "--quiet", ROOT, repo]);
      symlinkSync(join(ROOT, "..", "shared"), join(dir, "shared"));
      const [tkdbPort, petsemPort] = [await freePort(), await freePort()];
      const env = userEnv({ TKDB_PORT: String(tkdbPort), PETSEM_PORT: String(petsemPort) });

      // Terminal 1: npm start (its own process group, so Ctrl-C reaches everything it started).
      server = spawn("script", ["-qfec", start, "/dev/null"], { cwd: repo, env, detached: true });
      server.stdout?.on("data", (c: Buffer) => {
        serverOut += c.toString();
      });
      server.stderr?.on("data", (c: Buffer) => {
        serverOut += c.toString();
      });
      const deadline = Date.now() + 240_000;
      const ready = () => /Both services are ready/.test(serverOut);
      while (!ready()) {
        if (server.exitCode !== null) throw new Error(`npm start exited:\n${serverOut}`);
        if (Date.now() > deadline) throw new Error(`npm start not ready in time:\n${serverOut}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(existsSync(join(repo, "data", "dev.env"))).toBe(true);
      // The banner: tkdb's line first, then petsem's, in the stable format.
      const banner = serverOut.match(/^.*Noise static public key \(hex\) [0-9a-f]{64}.*$/gm) ?? [];
      expect(banner[0]).toMatch(/tkdb/);
      expect(banner[1]).toMatch(/petsem/);

      // Terminal 2: the walk, one bash session (shell variables carry tokens from step to step).
      const script = [
        "set -u",
        ...steps.flatMap((s, i) => [
          `printf '\\n::step ${i}\\n'`,
          s.line,
          `printf '\\n::exit ${i} %s\\n' "$?"`,
        ]),
      ].join("\n");
      writeFileSync(join(dir, "walk.sh"), `${script}\n`);
      const transcript = await runInPty(`bash ${join(dir, "walk.sh")}`, repo, env, 300_000);

      steps.forEach((s, i) => {
        const out = transcript.split(`::step ${i}\n`)[1]?.split(`::exit ${i} `) ?? [];
        const code = Number.parseInt(out[1] ?? "", 10);
        const where = `step ${i}: ${s.line}\n---\n${out[0] ?? transcript}`;
        expect(code, where).toBe(s.exit);
        for (const p of s.prints) expect(out[0], where).toContain(p);
      });

      // No development key is ever printed (by the services or the CLIs).
      const keysDir = join(repo, "data", "keys");
      for (const f of readdirSync(keysDir)) {
        const key = readFileSync(join(keysDir, f), "utf8").trim();
        if (key.length < 32) continue;
        expect(transcript.includes(key), `key file ${f} printed by the walk`).toBe(false);
        expect(serverOut.includes(key), `key file ${f} printed by npm start`).toBe(false);
      }
    },
    600_000,
  );
});

/** Runs `command` in a pseudo-terminal (script -qec) and resolves with everything it printed. */
function runInPty(command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { cwd, env, detached: true });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {}
      reject(new Error(`the walk did not finish in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      // a pseudo-terminal writes CRLF
      resolve(out.replace(/\r\n/g, "\n"));
    });
  });
}
