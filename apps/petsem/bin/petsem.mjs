#!/usr/bin/env node
// The installed petsem command: loads the TypeScript sources through tsx (no build step) and
// hands the process to the CLI runner (src/cli/index.ts), which resolves to the exit code.
import { register } from "tsx/esm/api";

register();
const { runPetsemCli } = await import("../src/cli/index.ts");
const { processEnv } = await import("../src/env.ts");
const stop = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"]) process.once(sig, () => stop.abort());
process.exitCode = await runPetsemCli({
  argv: process.argv.slice(2),
  env: processEnv(),
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  signal: stop.signal,
});
