#!/usr/bin/env node
// `npm run soak`: the long version of the reliability suite (test-e2e/src/reliability): long load
// runs, many more fuzz cases and many more kill -9 rounds than CI runs. Same tests, more of each.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const child = spawn(
  join(root, "node_modules", ".bin", "vitest"),
  ["run", "src/reliability", "--testTimeout=1800000", "--hookTimeout=600000", ...process.argv.slice(2)],
  { cwd: join(root, "test-e2e"), stdio: "inherit", env: { ...process.env, RELIABILITY_LONG: "1" } },
);
child.on("exit", (code) => process.exit(code ?? 1));
