/**
 * petsem CLI (`pnpm --filter petsem petsem <command>`):
 *   keygen                                  print fresh keys as env lines (KEK, Noise key, tkdb shared key)
 *   serve                                   run the HTTP/Noise server (env: see src/env.ts)
 *   token mint --writer [--org N [--app N]] [--ttl SECONDS]
 *   token mint --reader [--ttl SECONDS]
 *   token revoke (--nonce NONCE | --token TOKEN)
 *                                           revoke a petsem token (writer or reader) and every attenuation
 *                                           of it, on the primary's database: audited, honoured by the next
 *                                           call. NONCE is base64 of the token's msgpack nonce (as tkdb
 *                                           names nonces); TOKEN a petsem token or FlyV1 header. Prints
 *                                           {"nonce","revoked"} (revoked false: it already was)
 *   audit verify                            check the audit hash chain (read-only, no KEK needed)
 *   audit export [INDEX]                    the audit as OpenSearch bulk JSON lines (index petsem-audit)
 *   backup restore --output PATH [--timestamp RFC3339]
 *                                           restore the Litestream replica (PETSEM_LITESTREAM_REPLICA) of
 *                                           PETSEM_DATA_DIR/petsem.db into a NEW file, latest or as of the
 *                                           timestamp; it must open with PETSEM_KEK or nothing is written
 * Tokens are printed to stdout only; nothing secret is ever logged.
 */

import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { readAuditFile, toOpenSearchBulk } from "./audit.js";
import { generateKeyHex, getBackend, noiseKeyPair, PetsemCrypto } from "./crypto.js";
import { loadConfig } from "./env.js";
import { isPetsemError, PetsemError } from "./errors.js";
import { restoreBackup } from "./litestream.js";
import { openPetsem, petsemDbFile, startPetsem } from "./server.js";

function usage(): never {
  process.stderr.write(
    [
      "usage: petsem keygen | serve | token mint (--writer [--org N [--app N]] | --reader) [--ttl SECONDS]",
      "       petsem token revoke (--nonce NONCE | --token TOKEN)",
      "       petsem audit verify | audit export [INDEX]",
      "       petsem backup restore --output PATH [--timestamp RFC3339]",
      "",
    ].join("\n"),
  );
  process.exit(2);
}

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** `--timestamp` must be a full RFC 3339 time (with a zone), e.g. 2026-01-02T03:04:05Z. */
function parseTimestamp(text: string): Date {
  const d = new Date(text);
  if (!RFC3339_RE.test(text) || Number.isNaN(d.getTime())) {
    throw new PetsemError(
      "invalid_request",
      "--timestamp must be an RFC 3339 time such as 2026-01-02T03:04:05Z",
    );
  }
  return d;
}

/** Who ran a local command, for the audit (`cli:<os user>`). */
function localUser(): string {
  try {
    return (
      userInfo()
        .username.replace(/[^A-Za-z0-9._-]/g, "_")
        .slice(0, 64) || "unknown"
    );
  } catch {
    return "unknown";
  }
}

function stringFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) usage();
  return v;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || !/^\d+$/.test(v)) usage();
  return v;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === "keygen") {
    const kp = noiseKeyPair();
    process.stdout.write(
      [
        `PETSEM_KEK=${generateKeyHex()}`,
        `PETSEM_NOISE_KEY=${Buffer.from(kp.secretKey).toString("hex")}`,
        `# Noise public key (give to clients): ${Buffer.from(kp.publicKey).toString("hex")}`,
        `PETSEM_TKDB_SHARED_KEY=${generateKeyHex()}`,
        "# serve with the shared key also needs tkdb's revocation feed: PETSEM_TKDB_URL=<tkdb url>,",
        "# PETSEM_TKDB_PUBLIC_KEY=<tkdb's Noise public key>",
        "",
      ].join("\n"),
    );
    return;
  }
  if (cmd === "serve") {
    const config = loadConfig(process.env, { requireNoiseKey: true });
    const running = await startPetsem({
      ...config,
      onFeedError: (message) => process.stderr.write(`petsem: ${message}\n`),
      // Litestream's warnings and errors only (its info lines are one per sync).
      onLitestreamLog: (line) => {
        if (/level=(WARN|ERROR)/.test(line)) process.stderr.write(`litestream: ${line}\n`);
      },
    });
    let closing = false;
    // Handlers before the ready line: a SIGTERM sent as soon as it is read must find them.
    const stop = () => {
      closing = true;
      void running.close().then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(
            `petsem: ${isPetsemError(e) ? `${e.code}: ${e.message}` : "unexpected error"}\n`,
          );
          process.exit(1);
        },
      );
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    void running.replication?.exited.then((code) => {
      if (!closing)
        process.stderr.write(`petsem: litestream exited unexpectedly (code ${code}); backups stopped\n`);
    });
    process.stdout.write(
      `${JSON.stringify({
        petsem: running.url,
        noise_public_key: Buffer.from(running.publicKey).toString("hex"),
        backup: config.litestream === null ? null : config.litestream.replica,
      })}\n`,
    );
    return;
  }
  if (cmd === "token" && rest[0] === "mint") {
    const args = rest.slice(1);
    const writer = args.includes("--writer");
    const reader = args.includes("--reader");
    if (writer === reader) usage();
    const org = flag(args, "--org");
    const app = flag(args, "--app");
    const ttl = flag(args, "--ttl");
    const config = loadConfig(process.env);
    const opened = openPetsem(config);
    try {
      const opts = {
        ...(org === undefined ? {} : { org: BigInt(org) }),
        ...(app === undefined ? {} : { app: BigInt(app) }),
        ...(ttl === undefined ? {} : { ttlSeconds: Number(ttl) }),
      };
      const { authority } = opened;
      process.stdout.write(`${writer ? authority.mintWriter(opts) : authority.mintReader(opts)}\n`);
    } finally {
      opened.close();
    }
    return;
  }
  if (cmd === "token" && rest[0] === "revoke") {
    const args = rest.slice(1);
    const nonce = stringFlag(args, "--nonce");
    const token = stringFlag(args, "--token");
    if ((nonce === undefined) === (token === undefined)) usage();
    const config = loadConfig(process.env);
    const file = petsemDbFile(config);
    // Revoking on a folder without a database would create an empty one that nothing serves.
    if (!existsSync(file)) throw new PetsemError("config", "no petsem database in PETSEM_DATA_DIR");
    const opened = openPetsem(config);
    try {
      const target = token === undefined ? { nonce: nonce as string } : { token };
      const bytes = opened.authority.nonceToRevoke(target);
      const result = opened.blacklist.revoke(bytes, `cli:${localUser()}`);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      opened.close();
    }
    return;
  }
  if (cmd === "audit" && (rest[0] === "verify" || rest[0] === "export")) {
    const config = loadConfig(process.env);
    const file = petsemDbFile(config);
    if (!existsSync(file)) throw new PetsemError("config", "no petsem database in PETSEM_DATA_DIR");
    const { records, chain } = readAuditFile(file, new PetsemCrypto(getBackend(config.backend)));
    if (rest[0] === "export") {
      const index = rest[1];
      if (index !== undefined && !/^[a-z0-9][a-z0-9._-]{0,254}$/.test(index)) usage();
      process.stdout.write(toOpenSearchBulk(records, index));
      if (!chain.ok) throw new PetsemError("integrity", `audit chain broken at seq ${chain.brokenAt}`);
      return;
    }
    if (!chain.ok) throw new PetsemError("integrity", `audit chain broken at seq ${chain.brokenAt}`);
    process.stdout.write(`${JSON.stringify({ ok: true, records: chain.count })}\n`);
    return;
  }
  if (cmd === "backup" && rest[0] === "restore") {
    const args = rest.slice(1);
    const output = stringFlag(args, "--output");
    const ts = stringFlag(args, "--timestamp");
    if (output === undefined) usage();
    const timestamp = ts === undefined ? undefined : parseTimestamp(ts);
    const config = loadConfig(process.env);
    if (config.litestream === null) {
      throw new PetsemError("config", "PETSEM_LITESTREAM_REPLICA is required to restore a backup");
    }
    const result = await restoreBackup({
      replica: config.litestream,
      dbPath: petsemDbFile(config),
      outputPath: output,
      kek: config.kek,
      backend: config.backend,
      ...(timestamp === undefined ? {} : { timestamp }),
    });
    process.stdout.write(
      `${JSON.stringify({
        restored: result.outputPath,
        timestamp: timestamp === undefined ? "latest" : timestamp.toISOString(),
        ms: Math.round(result.ms),
        apps: result.apps,
      })}\n`,
    );
    return;
  }
  usage();
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // Only our own fixed messages are printed; never a stack that could hold input.
  process.stderr.write(`petsem: ${isPetsemError(e) ? `${e.code}: ${e.message}` : "unexpected error"}\n`);
  process.exit(1);
});
