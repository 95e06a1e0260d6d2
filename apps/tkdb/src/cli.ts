/**
 * The tkdb command line as a process: `node --import tsx src/cli.ts <command>` (the test harness
 * and scripts/start.mjs) or bin/tkdb.mjs. The commands are in src/cli/ (one file per command);
 * this file only hands the process to the runner, and only when it is the program being run (a
 * test importing it runs nothing: tests call runCli(cli, …) in-process).
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runCli } from "@tkdb/service";
import { cli } from "./cli/index.js";
import { processEnv } from "./env.js";

export { cli };

/** Runs one command line with this process's arguments, environment and streams; SIGTERM/SIGINT stop `serve`. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await runCli(cli, {
      argv,
      env: processEnv(),
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      cwd: process.cwd(),
      signal: stop.signal,
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** `tkdb serve` with this process's extra arguments: src/main.ts (`npm start` in apps/tkdb). */
export function mainServe(): Promise<number> {
  return main(["serve", ...process.argv.slice(2)]);
}

function isEntry(): boolean {
  const arg = process.argv[1];
  if (arg === undefined) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry())
  main().then((code) => {
    process.exitCode = code;
  });
