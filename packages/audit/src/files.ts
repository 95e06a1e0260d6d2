/**
 * The log's files. A node's log is a directory of `audit-<first seq, 12 digits>.jsonl` segments
 * (the name says which seq the file must start with, so a missing segment shows as a gap), the
 * append-only sidecar `checkpoints.jsonl` (one `head` record per checkpoint, shipped as its own
 * stream) and `writer.lock` (the pid of the one process that may append).
 *
 * Durability: lines are appended and fdatasync'ed; a new file's directory entry is made durable by
 * fsync of the directory (POSIX leaves it to the directory, not the file).
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { open as openFile, readFile, rename, stat, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import { AuditError } from "./errors.js";

export const SEGMENT_GLOB = "audit-*.jsonl";
export const CHECKPOINT_FILE = "checkpoints.jsonl";
export const LOCK_FILE = "writer.lock";
const SEGMENT_RE = /^audit-(\d{12})\.jsonl$/;

/** The sidecar trims itself to its last record past this size (the index holds the rest). */
export const CHECKPOINT_FILE_MAX_BYTES = 1024 * 1024;

export interface Segment {
  readonly name: string;
  readonly firstSeq: number;
}

export function segmentName(firstSeq: number): string {
  return `audit-${String(firstSeq).padStart(12, "0")}.jsonl`;
}

/** The segments of `dir`, oldest first. */
export function listSegments(dir: string): Segment[] {
  const out: Segment[] = [];
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (m) out.push({ name, firstSeq: Number(m[1]) });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A file split into complete lines (without their newline) and what follows the last newline. */
export interface SplitFile {
  readonly lines: string[];
  /** Bytes after the last newline: a line cut short by a crash, or nothing. */
  readonly tail: Buffer;
  readonly size: number;
}

export async function readSplit(path: string): Promise<SplitFile> {
  const buf = await readFile(path);
  const end = buf.lastIndexOf(0x0a) + 1;
  const body = buf.subarray(0, end).toString("utf8");
  const lines = body === "" ? [] : body.slice(0, -1).split("\n");
  return { lines, tail: buf.subarray(end), size: buf.length };
}

/**
 * Cuts a torn tail: the bytes after the last newline (a line whose write a crash interrupted: it
 * was never acknowledged, because acknowledgement waits for fdatasync of the whole line and its
 * newline). Complete lines are never touched here. Returns the bytes removed.
 */
export async function cutTornTail(path: string, split: SplitFile): Promise<number> {
  if (split.tail.length === 0) return 0;
  await truncate(path, split.size - split.tail.length);
  const fh = await openFile(path, "r+");
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return split.tail.length;
}

export async function removeEmptySegment(dir: string, name: string): Promise<void> {
  await unlink(join(dir, name));
  fsyncDir(dir);
}

/** The last line of a segment, or undefined when it has none. */
export async function lastLineOf(path: string): Promise<string | undefined> {
  const { lines } = await readSplit(path);
  return lines[lines.length - 1];
}

// ---------------------------------------------------------------------------------------------
// The checkpoint sidecar

export interface HeadRecord {
  readonly v: 1;
  readonly kind: "head";
  readonly node: string;
  /** The checkpoint line's own seq and hash. */
  readonly seq: number;
  readonly hash: string;
  readonly ts: string;
  readonly file: string;
}

export function parseHeadRecord(text: string): HeadRecord | undefined {
  try {
    const x = JSON.parse(text) as Partial<HeadRecord>;
    if (
      x.v === 1 &&
      x.kind === "head" &&
      typeof x.node === "string" &&
      Number.isSafeInteger(x.seq) &&
      typeof x.hash === "string" &&
      /^[0-9a-f]{64}$/.test(x.hash) &&
      typeof x.ts === "string" &&
      typeof x.file === "string" &&
      Object.keys(x).length === 7
    )
      return x as HeadRecord;
  } catch {
    // not a record
  }
  return undefined;
}

/** The newest complete record of the sidecar, if any. A torn last record is ignored. */
export async function readLastHead(dir: string): Promise<HeadRecord | undefined> {
  let split: SplitFile;
  try {
    split = await readSplit(join(dir, CHECKPOINT_FILE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  for (let i = split.lines.length - 1; i >= 0; i--) {
    const rec = parseHeadRecord(split.lines[i] as string);
    if (rec) return rec;
  }
  return undefined;
}

/** Appends one record durably; past the size bound, rewrites the file to hold only it. */
export async function appendHead(dir: string, rec: HeadRecord): Promise<void> {
  const path = join(dir, CHECKPOINT_FILE);
  const text = `${JSON.stringify(rec)}\n`;
  let size = -1;
  try {
    size = (await stat(path)).size;
  } catch {
    // absent: created below
  }
  if (size + text.length > CHECKPOINT_FILE_MAX_BYTES) {
    const tmp = `${path}.tmp`;
    await writeDurable(tmp, text, "w");
    await rename(tmp, path);
    fsyncDir(dir);
    return;
  }
  await writeDurable(path, text, "a");
  if (size < 0) fsyncDir(dir);
}

async function writeDurable(path: string, text: string, flags: "a" | "w"): Promise<void> {
  const fh = await openFile(path, flags, 0o600);
  try {
    await fh.write(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// One writer per directory

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * Takes the directory's writer lock: the file holds the owner's pid. A lock whose pid is gone
 * (ESRCH) or is this process (a restarted container's pid 1) is stale and taken over. Two writers
 * would fork the chain, so a live owner is `audit_unavailable`.
 */
export function takeLock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
      throw new AuditError("audit_unavailable", `the audit log is open in process ${pid}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  writeFileSync(path, `${process.pid}\n`, { mode: 0o600 });
}

export async function releaseLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  try {
    if (readFileSync(path, "utf8").trim() === String(process.pid)) await unlink(path);
  } catch {
    // already gone
  }
}
