/**
 * The petsem command line as a script: `node --import tsx apps/petsem/src/cli.ts <command>` (the
 * test harness and scripts/start.mjs run it so; bin/petsem.mjs is the installed form). It hands
 * the process's argv, environment and streams to the runner (src/cli/index.ts), aborts on
 * SIGTERM/SIGINT so `serve` closes cleanly (a second signal gets Node's default: it ends the
 * process, also for a command that does not watch the abort), and sets process.exitCode.
 * Imported (by a test), it does nothing: only `main` runs a command line.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runPetsemCli } from "./cli/index.js";
import { processEnv } from "./env.js";

/** Runs process.argv as a petsem command line; resolves to the exit code. */
export function main(): Promise<number> {
  const stop = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => stop.abort());
  return runPetsemCli({
    argv: process.argv.slice(2),
    env: processEnv(),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    signal: stop.signal,
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) process.exitCode = await main();
