#!/usr/bin/env node
// The tkdb command (package.json "bin"): loads TypeScript through tsx's ESM hooks, then hands the
// process to the CLI runner (src/cli.ts: arguments, environment, streams, SIGTERM/SIGINT).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli.ts");
process.exitCode = await main(process.argv.slice(2));
