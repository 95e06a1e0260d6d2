#!/usr/bin/env node
// The one test command: lint, typecheck and every package's tests (turbo),
// then one summary line `N passed, N failed` summed from vitest's JSON reports.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const workspaces = ["packages", "apps"]
  .flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((p) => join(root, d, p)) : []))
  .concat(existsSync(join(root, "test-e2e")) ? [join(root, "test-e2e")] : [])
  .filter((p) => existsSync(join(p, "package.json")));
const reportOf = (p) => join(p, ".vitest-report.json");
for (const p of workspaces) rmSync(reportOf(p), { force: true });

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", FORCE_COLOR: process.env.CI ? "0" : "1" };
function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: "inherit", env });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const lint = await run("biome", ["check", "."]);
// Layout checks (scripts/check-layout.mjs): prints one `layout: …` summary line; fails like lint.
const layout = await run(process.execPath, [join(root, "scripts", "check-layout.mjs")]);
const turbo = await run("turbo", [
  "run",
  "typecheck",
  "test",
  "--concurrency=2",
  "--continue",
  "--output-logs=errors-only",
]);

let passed = 0;
let failed = 0;
for (const p of workspaces) {
  if (!existsSync(reportOf(p))) continue;
  const r = JSON.parse(readFileSync(reportOf(p), "utf8"));
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
}
if (lint !== 0) console.error("lint failed");
if (layout !== 0) console.error("layout checks failed");
if (turbo !== 0) console.error("typecheck or tests failed");
if ((lint !== 0 || layout !== 0 || turbo !== 0) && failed === 0) failed = 1; // a failing step counts even without a failed test
console.log(`${passed} passed, ${failed} failed`);
process.exit(lint || layout || turbo ? 1 : 0);
