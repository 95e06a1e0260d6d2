#!/usr/bin/env node
// The main job: start tkdb and petsem on embedded SQLite under ./data.
// Until the services land (issues 4 and 6) this says so and exits non-zero.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
if (!existsSync(join(root, "apps/tkdb/src/main.ts"))) {
  console.error("tkdb and petsem are not built yet: only the libraries exist. `npm test` runs their suites.");
  process.exit(2);
}
await import(join(root, "scripts/start-services.mjs"));
