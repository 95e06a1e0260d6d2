#!/usr/bin/env node
// Installs the workspace with the pinned pnpm, so that a fresh clone needs only
// Node and npm. Under CI the lockfile must match package.json exactly.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const pnpmVersion = pkg.packageManager.replace(/^pnpm@/, "").split("+")[0];
const args = ["--yes", `pnpm@${pnpmVersion}`, "install"];
if (process.env.CI) args.push("--frozen-lockfile");
else if (existsSync(join(root, "pnpm-lock.yaml"))) args.push("--prefer-offline");

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", npm_config_update_notifier: "false" };
const r = spawnSync("npx", args, { cwd: root, stdio: "inherit", env });
if (r.status !== 0) {
  console.error(`bootstrap: pnpm install failed (exit ${r.status ?? r.signal})`);
  process.exit(r.status ?? 1);
}
