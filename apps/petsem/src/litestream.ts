/**
 * petsem's continuous backup and point-in-time restore: a thin layer over @tkdb/litestream (one
 * Litestream implementation for both services), keeping petsem's names and its error codes.
 *
 * - `startReplication(dbPath, replica)` runs `litestream replicate` from a rendered 0.3 config and
 *   resolves once the replica holds a snapshot (`ready`); `stop()` lets Litestream do its final
 *   sync (SIGTERM), waits for the exit and removes the one-replicator guard's record.
 * - `restore({replica, dbPath, outputPath, timestamp?})` runs `litestream restore` into a new file.
 * - `restoreBackup({..., kek})` is a verified restore: the copy is made in a private folder beside
 *   `outputPath`, passes `PRAGMA integrity_check`, opens with the KEK (a missing or wrong KEK is
 *   refused with petsem's own `config`/`wrong_kek` errors, nothing is left behind), and only then is
 *   linked into place. An existing file is never overwritten.
 *
 * Litestream's failures become `backup` errors (bad settings `config`, a bad timestamp
 * `invalid_request`). S3 credentials are never in a config: Litestream gets LITESTREAM_* / AWS_*
 * (and nothing else of petsem's environment, so never the KEK) from the environment.
 */
import {
  isLitestreamError,
  litestreamBinary as lsBinary,
  generations as lsGenerations,
  renderConfig as lsRenderConfig,
  restore as lsRestore,
  type ReplicaOptions,
  replicate,
  summarizeLitestreamOutput,
  verifiedRestore,
} from "@tkdb/litestream";
import Database from "better-sqlite3";
import type { BackendName } from "./crypto.js";
import { DEFAULT_SYNC_INTERVAL, type LitestreamConfig, parseReplicaUrl } from "./env.js";
import { PetsemError } from "./errors.js";
import { moveOffRetiredKek } from "./store/kek-rotation.js";
import { SecretStore } from "./store.js";

export type { LitestreamConfig } from "./env.js";
export { summarizeLitestreamOutput };

/** A replica URL (sync interval defaults to 1s) or a full config. */
export type ReplicaSpec = string | LitestreamConfig;

type EnvObject = Readonly<Record<string, string | undefined>>;

/**
 * The environment Litestream's variables come from. Migration note: petsem's env.ts should hand
 * its environment object over (ReplicationOptions.env) so that this default can go.
 */
const defaultEnv = (): EnvObject => process.env;

/** A LitestreamError (or anything else) as petsem's error: settings → config, else → backup. */
function asPetsemError(e: unknown): unknown {
  if (e instanceof PetsemError || !isLitestreamError(e)) return e;
  const code = e.code === "invalid_request" ? "config" : "backup";
  return new PetsemError(code, e.message, {
    ...(e.details === undefined ? {} : { details: e.details }),
    cause: e,
  });
}

/** Absolute path of the real Litestream binary from `@flydotio/litestream-<platform>-<arch>`. */
export function litestreamBinary(): string {
  try {
    return lsBinary();
  } catch (cause) {
    throw new PetsemError("backup", (cause as Error).message, { cause });
  }
}

function toReplica(replica: ReplicaSpec): ReplicaOptions {
  const spec = typeof replica === "string" ? { replica, syncInterval: DEFAULT_SYNC_INTERVAL } : replica;
  return { url: parseReplicaUrl(spec.replica, "replica"), syncInterval: spec.syncInterval };
}

const configOf = (replica: ReplicaSpec) => ({ replicas: [toReplica(replica)] });

/** The Litestream 0.3 YAML for one database and one replica (strings as JSON: valid YAML). */
export function renderConfig(dbPath: string, replica: ReplicaSpec): string {
  try {
    return lsRenderConfig({ dbPath, ...configOf(replica) });
  } catch (e) {
    throw asPetsemError(e);
  }
}

export interface Replication {
  readonly pid: number;
  /** Resolves with the exit code when Litestream exits (for any reason). */
  readonly exited: Promise<number | null>;
  /**
   * SIGTERM (Litestream does a final sync), then waits for the exit; SIGKILL after `timeoutMs`.
   * Rejects with `backup` if Litestream did not exit cleanly (its final sync may have failed).
   * (It first waits, bounded, for an in-flight segment write: see @tkdb/litestream's replicate.)
   */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ReplicationOptions {
  /** each line Litestream logs (positions, paths; no content) */
  readonly onLog?: (line: string) => void;
  /** how long to wait for the first snapshot on the replica (default 60 s) */
  readonly startTimeoutMs?: number;
  /** where LITESTREAM_* / AWS_* come from (default: this process's environment) */
  readonly env?: EnvObject;
}

/**
 * Starts `litestream replicate` for `dbPath`. Resolves once the replica holds a snapshot of the
 * database; rejects with `backup` if Litestream exits or times out first (it is then stopped).
 */
export async function startReplication(
  dbPath: string,
  replica: ReplicaSpec,
  opts: ReplicationOptions = {},
): Promise<Replication> {
  if (dbPath === ":memory:") throw new PetsemError("config", "an in-memory database cannot be backed up");
  litestreamBinary();
  let r: Awaited<ReturnType<typeof replicate>>;
  try {
    r = await replicate({
      dbPath,
      config: configOf(replica),
      env: opts.env ?? defaultEnv(),
      readyTimeoutMs: opts.startTimeoutMs ?? 60_000,
      ...(opts.onLog === undefined ? {} : { onLog: opts.onLog }),
    });
  } catch (e) {
    throw asPetsemError(e);
  }
  try {
    await r.ready;
  } catch (e) {
    await r.stop(5_000).catch(() => undefined);
    throw new PetsemError("backup", `litestream replicate did not start: ${(e as Error).message}`, {
      cause: e,
      details: { exit_code: (await r.exited) ?? -1 },
    });
  }
  return {
    pid: r.pid,
    exited: r.exited,
    stop: (timeoutMs?: number) => r.stop(timeoutMs).catch((e: unknown) => Promise.reject(asPetsemError(e))),
  };
}

export interface RestoreOptions {
  readonly replica: ReplicaSpec;
  /** the live database path the replica belongs to (Litestream finds the replica by it) */
  readonly dbPath: string;
  /** must not exist yet */
  readonly outputPath: string;
  /** point in time; latest when omitted */
  readonly timestamp?: Date;
}

function checkTimestamp(t: Date | undefined): void {
  if (t !== undefined && Number.isNaN(t.getTime())) {
    throw new PetsemError("invalid_request", "timestamp must be an RFC 3339 time");
  }
}

/** `litestream restore -config <yml> -o <out> [-timestamp <RFC3339>] <db>`. */
export async function restore(opts: RestoreOptions): Promise<{ outputPath: string; ms: number }> {
  checkTimestamp(opts.timestamp);
  try {
    const r = await lsRestore({
      dbPath: opts.dbPath,
      config: configOf(opts.replica),
      outPath: opts.outputPath,
      env: defaultEnv(),
      ...(opts.timestamp === undefined ? {} : { timestamp: opts.timestamp }),
    });
    return { outputPath: r.outPath, ms: r.ms };
  } catch (e) {
    throw asPetsemError(e);
  }
}

/** Generations Litestream knows for `dbPath` on the replica (`litestream generations`). */
export async function generations(
  dbPath: string,
  replica: ReplicaSpec,
): Promise<Array<{ generation: string; start: string; end: string }>> {
  try {
    const gens = await lsGenerations({ dbPath, config: configOf(replica), env: defaultEnv() });
    return gens.map(({ generation, start, end }) => ({ generation, start, end }));
  } catch (e) {
    throw asPetsemError(e);
  }
}

export interface RestoreBackupOptions extends RestoreOptions {
  /** the KEK; the restored database must open with it, or nothing is left at outputPath */
  readonly kek: Uint8Array | null | undefined;
  /** PETSEM_KEK_NEXT and PETSEM_KEK_RETIRED: a backup sealed under a retired KEK opens too */
  readonly kekNext?: Uint8Array | null;
  readonly kekRetired?: readonly Uint8Array[];
  readonly backend?: BackendName;
}

/** SQLite's own check of every page and index of a restored copy. */
function integrityCheck(file: string): void {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const result = db.pragma("integrity_check", { simple: true });
    if (result !== "ok")
      throw new PetsemError("integrity", "the restored database fails PRAGMA integrity_check");
  } finally {
    db.close();
  }
}

/**
 * Restores to a private file beside `outputPath`, checks it (integrity_check, then opens it with
 * the KEK: `wrong_kek` or `config` if it does not open; nothing is then left behind) and moves it
 * into place. Returns the restored per-app versions (public metadata) so callers see what they got.
 */
export async function restoreBackup(opts: RestoreBackupOptions): Promise<{
  outputPath: string;
  ms: number;
  apps: Array<{ org: string; app: string; appVersion: number }>;
}> {
  const kek = opts.kek;
  if (!(kek instanceof Uint8Array) || kek.length !== 32) {
    throw new PetsemError("config", "PETSEM_KEK or PETSEM_KEK_FILE is required to restore a backup");
  }
  checkTimestamp(opts.timestamp);
  try {
    const r = await verifiedRestore({
      dbPath: opts.dbPath,
      config: configOf(opts.replica),
      outPath: opts.outputPath,
      env: defaultEnv(),
      ...(opts.timestamp === undefined ? {} : { timestamp: opts.timestamp }),
      check: (file) => {
        integrityCheck(file);
        const keks = { kek, kekNext: opts.kekNext ?? null, kekRetired: opts.kekRetired ?? [] };
        const store = SecretStore.open({ file, ...keks, backend: opts.backend ?? "native" });
        try {
          // A new epoch: versions written after this restore never pass for lost ones (store/epochs.ts).
          store.mintEpoch("restore");
          return store.appVersions();
        } finally {
          store.close();
          // A copy under a retired KEK (a backup from before a rotation) is moved onto PETSEM_KEK
          // in one transaction before it is put in place, so the restored database takes writes.
          moveOffRetiredKek(file, keks);
        }
      },
    });
    return { outputPath: r.outPath, ms: r.ms, apps: r.checked };
  } catch (e) {
    throw asPetsemError(e);
  }
}
