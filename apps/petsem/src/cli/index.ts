/**
 * The petsem CLI, built on @tkdb/service's runner: one file per command in this folder
 * (`token mint` is token-mint.ts). `runPetsemCli(io)` runs one command line in-process and
 * resolves to the exit code (0 ok, 1 refused, 2 usage, 3 unreachable); the bin shim
 * (bin/petsem.mjs) and src/cli.ts hand it the process's argv, environment and streams.
 * Tokens and keys are printed to stdout only; nothing secret is ever logged.
 */
import { createRequire } from "node:module";
import { type CliIo, defineCli, runCli } from "@tkdb/service";
import { petsemEnv } from "../env.js";
import { auditExport } from "./audit-export.js";
import { auditVerify } from "./audit-verify.js";
import { backupRestore } from "./backup-restore.js";
import { keygen } from "./keygen.js";
import { serve } from "./serve.js";
import { tokenMint } from "./token-mint.js";
import { tokenRevoke } from "./token-revoke.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

export const cli = defineCli({
  name: "petsem",
  version,
  description: "secret store: the API server's writer token writes, flyd reads at boot with a tkdb discharge",
  env: petsemEnv,
  envPrefixes: ["PETSEM_"],
  examples: ["petsem keygen", "petsem serve", "petsem token mint --writer --org 7"],
  commands: [
    keygen,
    serve,
    { name: "token", description: "mint and revoke petsem tokens", commands: [tokenMint, tokenRevoke] },
    { name: "audit", description: "check and export the audit trail", commands: [auditVerify, auditExport] },
    { name: "backup", description: "Litestream backups", commands: [backupRestore] },
  ],
});

/** Runs one petsem command line; resolves to the exit code and never exits the process. */
export function runPetsemCli(io: CliIo): Promise<number> {
  return runCli(cli, io);
}
