/**
 * The petsem CLI, built on @tkdb/service's runner: one file per command in this folder
 * (`token mint` is token-mint.ts). `runPetsemCli(io)` runs one command line in-process and
 * resolves to the exit code (0 ok, 1 refused, 2 usage, 3 unreachable); the bin shim
 * (bin/petsem.mjs) and src/cli.ts hand it the process's argv, environment and streams.
 * Tokens and keys are printed to stdout only; nothing secret is ever logged.
 */
import { createRequire } from "node:module";
import { type CliIo, defineCli, runCli } from "@tkdb/service";
import { petsemClientEnv, petsemEnv } from "../env.js";
import { auditExport } from "./audit-export.js";
import { auditVerify } from "./audit-verify.js";
import { backupRestore } from "./backup-restore.js";
import { boot, childExitCodes } from "./boot.js";
import { kekRotate } from "./kek-rotate.js";
import { keygen } from "./keygen.js";
import { secretsDeploy } from "./secrets-deploy.js";
import { secretsHistory } from "./secrets-history.js";
import { secretsImport } from "./secrets-import.js";
import { secretsList } from "./secrets-list.js";
import { secretsRollback } from "./secrets-rollback.js";
import { secretsSet } from "./secrets-set.js";
import { secretsUnset } from "./secrets-unset.js";
import { serve } from "./serve.js";
import { tokenKeyRetire } from "./token-key-retire.js";
import { tokenKeyRotate } from "./token-key-rotate.js";
import { tokenMint } from "./token-mint.js";
import { tokenRevoke } from "./token-revoke.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

export const cli = defineCli({
  name: "petsem",
  version,
  description: "secret store: the API server's writer token writes, flyd reads at boot with a tkdb discharge",
  env: petsemEnv,
  envPrefixes: ["PETSEM_"],
  examples: [
    "petsem keygen",
    "petsem serve",
    "petsem token mint --writer --org 7",
    'printf %s "$VALUE" | petsem secrets set --org 7 --app 42 DATABASE_URL=-',
    "petsem boot --org 7 --app 42 --discharge - -- node server.js",
  ],
  commands: [
    keygen,
    serve,
    {
      name: "token",
      description: "mint and revoke petsem tokens; rotate and retire their signing keys",
      commands: [
        tokenMint,
        tokenRevoke,
        { name: "key", description: "token signing keys", commands: [tokenKeyRotate, tokenKeyRetire] },
      ],
    },
    { name: "kek", description: "the key-encryption key (local database)", commands: [kekRotate] },
    {
      name: "secrets",
      description:
        "manage an app's secrets through the running petsem with the writer token (never reads values)",
      env: petsemClientEnv,
      commands: [
        secretsSet,
        secretsImport,
        secretsUnset,
        secretsList,
        secretsHistory,
        secretsRollback,
        secretsDeploy,
      ].map((c) => ({ ...c, env: petsemClientEnv })),
    },
    { ...boot, env: petsemClientEnv },
    { name: "audit", description: "check and export the audit trail", commands: [auditVerify, auditExport] },
    { name: "backup", description: "Litestream backups", commands: [backupRestore] },
  ],
});

/**
 * Runs one petsem command line; resolves to the exit code and never exits the process. A `boot`
 * that ran its command resolves to that command's exit code.
 */
export async function runPetsemCli(io: CliIo): Promise<number> {
  const code = await runCli(cli, io);
  const child = childExitCodes.get(io.stdout);
  childExitCodes.delete(io.stdout);
  return code === 0 && child !== undefined ? child : code;
}
