/**
 * The tkdb CLI, built on @tkdb/service's runner: one file per command in this folder, named by
 * the command (`token mint` → token-mint.ts). `runCli(cli, {argv, env, stdin, stdout, stderr,
 * cwd, signal})` runs any command in-process; bin/tkdb.mjs and src/cli.ts call it for a process.
 *
 * Local admin commands (org create, token mint, token revoke) act on TKDB_DATA_DIR's database
 * with TKDB_KEK, audited as cli:<user>; they never create a database unless given --init.
 * Online commands (token verify, token strip, discharge, dev login, and --online admin) talk to
 * TKDB_URL over HTTP/Noise (online.ts). Tokens are read from stdin where an argument says `-`.
 */
import { readFileSync } from "node:fs";
import { defineCli } from "@tkdb/service";
import { auditExport } from "./audit-export.js";
import { auditVerify } from "./audit-verify.js";
import { backupRestore } from "./backup-restore.js";
import { devLogin } from "./dev-login.js";
import { discharge } from "./discharge.js";
import { kekRotate } from "./kek-rotate.js";
import { keygen } from "./keygen.js";
import { orgCreate } from "./org-create.js";
import { revocationsReapply } from "./revocations-reapply.js";
import { serve } from "./serve.js";
import { tokenAttenuate } from "./token-attenuate.js";
import { tokenInspect } from "./token-inspect.js";
import { tokenMint } from "./token-mint.js";
import { tokenRevoke } from "./token-revoke.js";
import { tokenStrip } from "./token-strip.js";
import { tokenVerify } from "./token-verify.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

export const cli = defineCli({
  name: "tkdb",
  version,
  description: "Macaroon token authority (Fly.io token format)",
  envPrefixes: ["TKDB_"],
  examples: [
    "tkdb serve",
    "tkdb org create 5",
    "tkdb token mint --org=5 --expiry 1h --json",
    "tkdb dev login --org 5 --user 42 > user.txt   # development only",
    "tkdb token verify - < user.txt",
    "tkdb audit verify",
  ],
  commands: [
    keygen,
    serve,
    { name: "org", description: "organizations (local database, or --online)", commands: [orgCreate] },
    {
      name: "token",
      description:
        "tokens: mint and revoke (local, or --online), inspect and attenuate (offline), verify and strip (online)",
      commands: [tokenMint, tokenRevoke, tokenInspect, tokenAttenuate, tokenVerify, tokenStrip],
    },
    discharge,
    { name: "dev", description: "development only: the local stack's login service", commands: [devLogin] },
    {
      name: "audit",
      description: "the audit trail of the local database",
      commands: [auditVerify, auditExport],
    },
    { name: "backup", description: "Litestream backups", commands: [backupRestore] },
    {
      name: "revocations",
      description: "revocations after a failover (primary only)",
      commands: [revocationsReapply],
    },
    { name: "kek", description: "the key-encryption key (local database)", commands: [kekRotate] },
  ],
});
