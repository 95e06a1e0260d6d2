/**
 * Restore and verified restore. `restore` is `litestream restore -config <cfg> -o <new>
 * [-timestamp <RFC 3339>] <db>` into a path that must not exist. `verifiedRestore` is what a
 * service runs: the copy (from a Litestream replica, or from a plain SQLite file such as tkdb's
 * `litefs export`) is made in a private folder beside the target, handed to the app's `check`
 * (integrity_check, opens with the KEK, …), made durable and only then linked into place. An
 * existing database is never replaced unless `replace` says so, and then it is kept beside.
 */
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { type ConfigSource, checkedPath } from "./config.js";
import { LitestreamError } from "./errors.js";
import { liveReplicator } from "./guard.js";
import { type EnvOptions, openConfig, runLitestream, summarizeLitestreamOutput } from "./run.js";

/** Files SQLite keeps beside a database; a stale one beside a new file would be applied to it. */
const SIDECARS = ["-wal", "-shm", "-journal"] as const;

export interface RestoreOptions extends EnvOptions {
  /** the live database the replica belongs to (Litestream finds the replica by this path) */
  readonly dbPath: string;
  readonly config: ConfigSource;
  /** must not exist yet */
  readonly outPath: string;
  /** point in time (RFC 3339 string or Date); latest when omitted */
  readonly timestamp?: Date | string;
}

/** A Date or a strict RFC 3339 string → the argument for `-timestamp`. */
export function checkedTimestamp(t: Date | string): string {
  if (t instanceof Date) {
    if (Number.isNaN(t.getTime()))
      throw new LitestreamError("invalid_request", "timestamp is not a valid time");
    return t.toISOString();
  }
  const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
  if (typeof t !== "string" || !rfc3339.test(t) || Number.isNaN(Date.parse(t))) {
    throw new LitestreamError(
      "invalid_request",
      "timestamp must be an RFC 3339 time, e.g. 2026-01-02T03:04:05Z",
    );
  }
  return t;
}

function refuseExisting(out: string): void {
  if (existsSync(out)) throw new LitestreamError("conflict", `${out} already exists; restore to a new path`);
  for (const s of SIDECARS) {
    if (existsSync(`${out}${s}`)) {
      throw new LitestreamError(
        "conflict",
        `${out}${s} exists without its database; remove it before restoring`,
      );
    }
  }
}

/** `litestream restore` into `outPath`, which must not exist. */
export async function restore(opts: RestoreOptions): Promise<{ outPath: string; ms: number }> {
  const out = checkedPath(opts.outPath, "outPath");
  const db = checkedPath(opts.dbPath, "dbPath");
  const ts = opts.timestamp === undefined ? undefined : checkedTimestamp(opts.timestamp);
  refuseExisting(out);
  mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
  const config = await openConfig(db, opts.config, opts);
  const t0 = performance.now();
  try {
    const args = ["restore", ...config.flags, "-o", out, ...(ts === undefined ? [] : ["-timestamp", ts]), db];
    const { code, lines } = await runLitestream(args, config.env);
    if (code !== 0 || !existsSync(out)) {
      const why = summarizeLitestreamOutput(lines);
      const kind = /no matching backups|no snapshots available|no generation/i.test(why)
        ? "not_found"
        : /already exists/i.test(why)
          ? "conflict"
          : "backup";
      throw new LitestreamError(kind, `litestream restore failed: ${why}`, {
        details: { exit_code: code ?? -1 },
      });
    }
    return { outPath: out, ms: performance.now() - t0 };
  } finally {
    config.cleanup();
    // Litestream applies the WAL to `<out>.tmp` through SQLite and may leave its -wal/-shm behind.
    for (const suffix of [".tmp-wal", ".tmp-shm"]) rmSync(`${out}${suffix}`, { force: true });
  }
}

/** A plain SQLite file to restore from: tkdb's `litefs export` output, or any offline copy. */
export interface ExportSource {
  readonly exportFile: string;
}

export type VerifiedRestoreOptions<T> = (Omit<RestoreOptions, "outPath"> | ExportSource) & {
  /** where the checked database ends up */
  readonly outPath: string;
  /**
   * The app's check of the restored copy at `path`, e.g. `PRAGMA integrity_check` and opening it
   * with the KEK. Throw to refuse it (the error is rethrown unchanged; nothing is left behind).
   * It must close the database before returning.
   */
  readonly check: (path: string) => T | Promise<T>;
  /** replace an existing database at outPath (kept as `<outPath>.before-restore-<time>`) */
  readonly replace?: boolean;
  /** the guard record of outPath's replicator; default `<outPath>.litestream.pid` */
  readonly pidFile?: string;
  /** file mode of the restored database; default 0600 */
  readonly mode?: number;
};

export interface VerifiedRestoreResult<T> {
  readonly outPath: string;
  readonly ms: number;
  /** what `check` returned */
  readonly checked: T;
  /** where the replaced database was kept, if one was replaced */
  readonly previous?: string;
}

const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

/** Copies a plain SQLite file (a `litefs export`) to `temp`, refusing anything else. */
function copyExport(file: string, temp: string): void {
  const src = checkedPath(file, "exportFile");
  let header = Buffer.alloc(0);
  try {
    const fd = openSync(src, "r");
    try {
      header = Buffer.alloc(16);
      header = header.subarray(0, readSync(fd, header, 0, 16, 0));
    } finally {
      closeSync(fd);
    }
  } catch (cause) {
    throw new LitestreamError("not_found", `cannot read the export ${src}`, { cause });
  }
  if (!header.equals(SQLITE_HEADER))
    throw new LitestreamError("invalid_request", `${src} is not a SQLite database`);
  if (existsSync(`${src}-wal`) && statSync(`${src}-wal`).size > 0) {
    // Its committed pages may still be in the WAL: a copy of the main file alone could lose them.
    throw new LitestreamError("invalid_request", `${src} has a -wal beside it; restore from an export`);
  }
  copyFileSync(src, temp, constants.COPYFILE_EXCL);
}

function fsyncPath(p: string, flags: string): void {
  const fd = openSync(p, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Moves an existing database and its sidecars (even without it) aside; returns where. */
function keepPrevious(out: string): string | undefined {
  const sidecars = SIDECARS.filter((s) => existsSync(`${out}${s}`));
  if (!existsSync(out) && sidecars.length === 0) return undefined;
  const previous = `${out}.before-restore-${new Date().toISOString().replace(/[-:.]/g, "")}`;
  // A hard link first: `out` never stops existing until the new file replaces it atomically.
  if (existsSync(out)) linkSync(out, previous);
  for (const s of sidecars) renameSync(`${out}${s}`, `${previous}${s}`);
  return previous;
}

/**
 * Restores to a private folder beside `outPath`, runs `check` on the copy, makes it durable and
 * moves it into place: linked when the target must not exist (atomic: a file that appeared
 * meanwhile is never overwritten), renamed over it when `replace` is set.
 */
export async function verifiedRestore<T>(opts: VerifiedRestoreOptions<T>): Promise<VerifiedRestoreResult<T>> {
  const out = checkedPath(opts.outPath, "outPath");
  if (typeof opts.check !== "function") throw new LitestreamError("invalid_request", "check is required");
  if (opts.replace === true) {
    const live = liveReplicator(opts.pidFile ?? `${out}.litestream.pid`);
    if (live !== undefined) {
      throw new LitestreamError(
        "conflict",
        `${out} is being replicated (pid ${live.pid}); stop its service first`,
      );
    }
  } else refuseExisting(out);
  mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(dirname(out), `.${basename(out)}.restoring-`));
  const temp = join(dir, basename(out));
  const t0 = performance.now();
  try {
    if ("exportFile" in opts) copyExport(opts.exportFile, temp);
    else await restore({ ...opts, outPath: temp });
    chmodSync(temp, opts.mode ?? 0o600);
    const checked = await opts.check(temp);
    if (existsSync(`${temp}-wal`) && statSync(`${temp}-wal`).size > 0) {
      throw new LitestreamError(
        "backup",
        "the check left the restored database open (its -wal is not empty)",
      );
    }
    fsyncPath(temp, "r+");
    let previous: string | undefined;
    if (opts.replace === true) {
      previous = keepPrevious(out);
      renameSync(temp, out);
    } else {
      try {
        linkSync(temp, out);
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException).code;
        throw new LitestreamError(
          "conflict",
          `${out} ${code === "EEXIST" ? "appeared" : "cannot be created"}`,
          {
            cause,
          },
        );
      }
    }
    fsyncPath(dirname(out), "r");
    return {
      outPath: out,
      ms: performance.now() - t0,
      checked,
      ...(previous === undefined ? {} : { previous }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
