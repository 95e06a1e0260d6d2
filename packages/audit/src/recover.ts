/**
 * What `AuditLog.open` does before the first append: find the head of the chain after a crash.
 *
 * - A torn last line (bytes after the last newline: a write a crash cut short, never
 *   acknowledged) is cut off. A complete line that does not verify is never removed: open fails
 *   with `integrity` and the operator looks (`audit verify`).
 * - The newest segment must chain internally and onto the end of the segment before it.
 * - The newest sidecar checkpoint must name a line that is present with that hash: a checkpoint
 *   beyond the end of the log means the log was truncated (or a disk lost acknowledged writes),
 *   and the node refuses to extend a chain that silently lost events.
 * - Intents without outcomes are collected: the first line of every segment is a checkpoint that
 *   lists the intents open at that point, so only the newest segment is scanned.
 */
import { join } from "node:path";
import { type ParsedLine, parseLine } from "./chain.js";
import { AuditError } from "./errors.js";
import type { AuditLine } from "./event.js";
import {
  cutTornTail,
  lastLineOf,
  listSegments,
  readLastHead,
  readSplit,
  removeEmptySegment,
  type Segment,
} from "./files.js";

export interface Recovered {
  /** The newest segment and its size; undefined for an empty directory (a new chain). */
  readonly current?: { readonly segment: Segment; readonly bytes: number };
  readonly head?: { readonly seq: number; readonly hash: string };
  readonly openIntents: Map<number, AuditLine>;
  readonly tornBytes: number;
}

function broken(file: string, lineNo: number, reason: string): never {
  throw new AuditError("integrity", `audit log ${file} line ${lineNo}: ${reason}`);
}

function mustParse(file: string, lineNo: number, text: string): AuditLine {
  const p: ParsedLine = parseLine(text);
  if (!p.ok) broken(file, lineNo, p.reason);
  return p.line;
}

/** The line with this seq, from the segment that must hold it. */
export async function findLine(dir: string, segments: readonly Segment[], seq: number): Promise<AuditLine> {
  const seg = [...segments].reverse().find((s) => s.firstSeq <= seq);
  if (seg === undefined) throw new AuditError("integrity", `no audit segment holds seq ${seq}`);
  const { lines } = await readSplit(join(dir, seg.name));
  const text = lines[seq - seg.firstSeq];
  if (text === undefined) throw new AuditError("integrity", `audit log ${seg.name} ends before seq ${seq}`);
  const line = mustParse(seg.name, seq - seg.firstSeq + 1, text);
  if (line.seq !== seq) broken(seg.name, seq - seg.firstSeq + 1, "seq out of place");
  return line;
}

/** Reads the newest non-empty segment, cutting a torn tail and dropping a segment left empty. */
async function newestSegment(dir: string, segments: Segment[]) {
  let tornBytes = 0;
  while (segments.length > 0) {
    const seg = segments[segments.length - 1] as Segment;
    const path = join(dir, seg.name);
    const split = await readSplit(path);
    tornBytes += await cutTornTail(path, split);
    if (split.lines.length > 0)
      return { seg, lines: split.lines, bytes: split.size - split.tail.length, tornBytes };
    await removeEmptySegment(dir, seg.name);
    segments.pop();
  }
  return { tornBytes };
}

export async function recover(dir: string, node: string): Promise<Recovered> {
  const segments = listSegments(dir);
  const newest = await newestSegment(dir, segments);
  if (newest.seg === undefined) {
    if ((await readLastHead(dir)) !== undefined)
      throw new AuditError("integrity", "audit log truncated: checkpoints exist but no segment does");
    return { openIntents: new Map(), tornBytes: newest.tornBytes };
  }
  const { seg, lines } = newest;
  const parsed = lines.map((text, i) => mustParse(seg.name, i + 1, text));
  const first = parsed[0] as AuditLine;
  if (first.node !== node)
    throw new AuditError("invalid_request", `this audit directory holds the log of node ${first.node}`);
  if (first.kind !== "checkpoint" || first.seq !== seg.firstSeq)
    broken(seg.name, 1, "a segment must begin with its checkpoint at the seq in its name");
  parsed.forEach((line, i) => {
    if (i === 0) return;
    const prev = parsed[i - 1] as AuditLine;
    if (line.seq !== prev.seq + 1) broken(seg.name, i + 1, "seq gap");
    if (line.prev !== prev.hash) broken(seg.name, i + 1, "prev does not match the line before");
    if (line.node !== node) broken(seg.name, i + 1, "another node's line");
  });
  const before = segments[segments.length - 2];
  if (before !== undefined) {
    const text = await lastLineOf(join(dir, before.name));
    const last = text === undefined ? undefined : parseLine(text);
    if (last === undefined || !last.ok || last.line.seq !== seg.firstSeq - 1 || last.line.hash !== first.prev)
      broken(seg.name, 1, `does not continue ${before.name} (a rotated file is missing or edited)`);
  }
  const tail = parsed[parsed.length - 1] as AuditLine;
  await checkSidecar(dir, segments, tail);
  const openIntents = new Map<number, AuditLine>();
  for (const seq of first.open_intents ?? []) openIntents.set(seq, await findLine(dir, segments, seq));
  for (const line of parsed) {
    if (line.kind === "intent") openIntents.set(line.seq, line);
    else if (line.kind === "outcome" && line.intent_seq !== undefined) openIntents.delete(line.intent_seq);
  }
  return {
    current: { segment: seg, bytes: newest.bytes },
    head: { seq: tail.seq, hash: tail.hash },
    openIntents,
    tornBytes: newest.tornBytes,
  };
}

async function checkSidecar(dir: string, segments: readonly Segment[], tail: AuditLine): Promise<void> {
  const head = await readLastHead(dir);
  if (head === undefined) return;
  if (head.seq > tail.seq)
    throw new AuditError(
      "integrity",
      `audit log truncated: checkpoint names seq ${head.seq}, the log ends at seq ${tail.seq}`,
    );
  const line = head.seq === tail.seq ? tail : await findLine(dir, segments, head.seq);
  if (line.hash !== head.hash)
    throw new AuditError("integrity", `audit log rewritten: seq ${head.seq} differs from its checkpoint`);
}
