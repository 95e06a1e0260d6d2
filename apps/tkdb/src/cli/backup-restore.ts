/**
 * `tkdb backup restore [--timestamp T | --export F] [--output F]`: a verified restore through
 * @tkdb/litestream (as petsem's). The copy, from the Litestream replica (point in time) or from a
 * `litefs export` file, is made in a private folder beside the output, must pass
 * `PRAGMA integrity_check` and open with TKDB_KEK (the KEK check value in `meta`), and only then is
 * linked into place (mode 0600). An existing output is never overwritten; a refused copy leaves
 * nothing behind.
 */
import { checkedTimestamp, isLitestreamError, verifiedRestore } from "@tkdb/litestream";
import type { Keyring } from "@tkdb/service";
import { CliError, command, defineConfig } from "@tkdb/service";
import Database from "better-sqlite3";
import { createKeyring, kekCheckRole, unsealRootKey } from "../crypto.js";
import { backupEnv, dbPathOf, kekNext, kekRetired, serviceEnv } from "../env.js";
import { TkdbError } from "../errors.js";
import { rotateKek } from "../kek-rotation.js";
import { pretty, tkdbRun } from "./shared.js";

/**
 * `backup restore` reads the KEKs too: a copy that no configured KEK opens is refused. Retired
 * KEKs (TKDB_KEK_RETIRED, kept for the backup window) open a backup made before a rotation.
 */
const restoreEnv = defineConfig({ ...backupEnv, kek: serviceEnv.kek, kekNext, kekRetired });

/**
 * The restored copy is SQLite-sound and is tkdb's database under a configured KEK: its KEK check
 * value and every org's sealed root key open with the keyring. A copy under a retired KEK (a
 * backup from before a rotation) is then rewrapped onto TKDB_KEK in one transaction (the private
 * copy, before it is put in place), so the restored database takes writes; otherwise the copy is
 * not changed (migrations run at the first start of `serve` on it).
 */
export function checkRestored(ring: Keyring): (path: string) => void {
  return (path) => {
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (cause) {
      throw new TkdbError("corrupt", "the restored copy cannot be opened as a SQLite database", { cause });
    }
    try {
      let result: unknown;
      let check: { value: Buffer } | undefined;
      let keys: { org: string; kid: Buffer; sealed_key: Buffer }[];
      try {
        result = db.pragma("integrity_check", { simple: true });
        check = db.prepare("SELECT value FROM meta WHERE name = 'kek_check'").get() as
          | { value: Buffer }
          | undefined;
        keys = db.prepare("SELECT org, kid, sealed_key FROM root_keys").all() as typeof keys;
      } catch (cause) {
        throw new TkdbError("corrupt", "the restored copy is not a tkdb database", { cause });
      }
      if (result !== "ok") throw new TkdbError("corrupt", "the restored copy fails PRAGMA integrity_check");
      if (check === undefined || !(check.value instanceof Uint8Array))
        throw new TkdbError("corrupt", "the restored copy has no KEK check value (not a tkdb database)");
      const role = kekCheckRole(ring, new Uint8Array(check.value)).role;
      // Every org's root key opens too (unsealRootKey throws `corrupt` naming the org otherwise).
      for (const row of keys)
        unsealRootKey(ring, row.org, new Uint8Array(row.kid), new Uint8Array(row.sealed_key)).fill(0);
      if (role !== "retired") return;
    } finally {
      db.close();
    }
    const rw = new Database(path, { fileMustExist: true });
    try {
      rotateKek(rw, ring, { to: ring.current });
    } finally {
      rw.close();
    }
  };
}

/** A LitestreamError as the CLI's error: its code (the shared vocabulary), `config` a usage error. */
function fromLitestream(e: unknown): unknown {
  if (!isLitestreamError(e)) return e;
  return new CliError(e.code === "config" ? "usage" : "refused", e.message, { code: e.code, cause: e });
}

export const backupRestore = command({
  name: "restore",
  description:
    "restore the database from its Litestream replica (TKDB_LITESTREAM_CONFIG) or a `litefs export` file into a new file, checked with TKDB_KEK first",
  env: restoreEnv,
  options: [
    { flags: "--timestamp <time>", description: "restore as of this RFC 3339 time (default: latest)" },
    {
      flags: "--output <file>",
      description: "where to write the restored database (default: <db>.restored); must not exist",
    },
    {
      flags: "--export <file>",
      description: "restore from this `litefs export` file (a plain SQLite file) instead of the replica",
    },
  ],
  examples: [
    "tkdb backup restore --output /tmp/tkdb.db",
    "tkdb backup restore --timestamp 2026-01-02T03:04:05Z --output /tmp/tkdb.db",
    "tkdb backup restore --export /tmp/tkdb-export.db --output /tmp/tkdb.db",
  ],
  run: tkdbRun(async (ctx) => {
    const env = ctx.config(restoreEnv);
    const dbPath = dbPathOf(env);
    const outPath = (ctx.opts.output as string | undefined) ?? `${dbPath}.restored`;
    const timestamp = ctx.opts.timestamp as string | undefined;
    const exportFile = ctx.opts.export as string | undefined;
    if (exportFile !== undefined && timestamp !== undefined)
      throw CliError.usage("--timestamp restores from the replica; an export has one point in time", {
        where: "--timestamp",
      });
    if (timestamp !== undefined) {
      try {
        checkedTimestamp(timestamp);
      } catch {
        throw CliError.usage("--timestamp must be RFC 3339, e.g. 2026-01-02T03:04:05Z", {
          where: "--timestamp",
        });
      }
    }
    const configPath = env.litestreamConfig;
    if (exportFile === undefined && configPath === undefined)
      throw CliError.usage("set TKDB_LITESTREAM_CONFIG (or pass --export <file>)", {
        where: "TKDB_LITESTREAM_CONFIG",
      });
    const ring = createKeyring(env);
    const check = checkRestored(ring);
    try {
      if (exportFile !== undefined) await verifiedRestore({ exportFile, outPath, check });
      else
        await verifiedRestore({
          dbPath,
          config: { file: configPath as string },
          env: ctx.env,
          outPath,
          check,
          ...(timestamp === undefined ? {} : { timestamp }),
        });
    } catch (e) {
      throw fromLitestream(e);
    }
    return { restored: outPath };
  }),
  human: pretty,
});
