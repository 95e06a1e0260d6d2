/**
 * Verification of a node's log on disk (`verify`) and of a shipped stream (`verifyShipped`).
 *
 * Both recompute every line's hash, require seq to increase by one and `prev` to name the line
 * before, and check every checkpoint record of the sidecar against the line it names. A checkpoint
 * that names a seq beyond the end is how a truncation made before shipping shows: the sidecar is
 * shipped as its own stream, so cutting the log does not cut the evidence of its length.
 */
import { join } from "node:path";
import { canonicalJson } from "./canonical.js";
import { parseLine } from "./chain.js";
import { AUDIT_KINDS, type AuditLine } from "./event.js";
import { CHECKPOINT_FILE, type HeadRecord, listSegments, parseHeadRecord, readSplit } from "./files.js";

export type VerifyFailure =
  | "hash_mismatch"
  | "bad_line"
  | "seq_gap"
  | "prev_mismatch"
  | "torn_line"
  | "rotated_file_missing"
  | "truncated"
  | "fork";

export interface Head {
  readonly seq: number;
  readonly hash: string;
}

export type VerifyResult =
  | { readonly ok: true; readonly lines: number; readonly head: Head | null; readonly checkpoints: number }
  | {
      readonly ok: false;
      readonly lines: number;
      readonly failure: VerifyFailure;
      readonly reason: string;
      readonly file?: string;
      /** 1-based line number within `file`. */
      readonly line?: number;
      readonly seq?: number;
      readonly node?: string;
    };

export interface VerifyOptions {
  /** The seq the oldest segment must start at: 1, or later after shipped segments were pruned. */
  readonly firstSeq?: number;
  /** A live log: a partial last line is a write in progress, not a failure. Default false. */
  readonly live?: boolean;
  /**
   * Called with each line once it has verified against the one before it, in seq order. The log
   * as a whole is good only if the result is `ok`: a caller that acts on the lines (tkdb's
   * re-apply of revocations) must wait for the result and discard them otherwise.
   */
  readonly onLine?: (line: AuditLine) => void;
}

type Failure = Extract<VerifyResult, { ok: false }>;

/** Checks one line against the one before it (or the expected start). */
function follow(
  line: AuditLine,
  expectSeq: number,
  expectPrev: string | null,
): [VerifyFailure, string] | null {
  if (line.seq > expectSeq) return ["seq_gap", `seq ${line.seq} where ${expectSeq} was due (lines deleted)`];
  if (line.seq < expectSeq) return ["seq_gap", `seq ${line.seq} where ${expectSeq} was due (reordered)`];
  if (expectPrev !== null && line.prev !== expectPrev)
    return ["prev_mismatch", `seq ${line.seq} does not chain onto the line before`];
  if (
    line.kind === "checkpoint" &&
    expectPrev !== null &&
    (line.head_seq !== line.seq - 1 || line.head_hash !== line.prev)
  )
    return ["bad_line", `checkpoint at seq ${line.seq} names another head`];
  return null;
}

function failed(parse: { reason: string }): VerifyFailure {
  return parse.reason === "hash mismatch" ? "hash_mismatch" : "bad_line";
}

async function readHeads(dir: string): Promise<HeadRecord[]> {
  try {
    const { lines } = await readSplit(join(dir, CHECKPOINT_FILE));
    return lines.flatMap((l) => parseHeadRecord(l) ?? []);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

/** Verifies the log in `dir`: every segment, in order, and the checkpoint sidecar. */
export async function verify(dir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const heads = await readHeads(dir);
  const wanted = new Map(heads.map((h) => [h.seq, h]));
  const segments = listSegments(dir);
  let expectSeq = opts.firstSeq ?? 1;
  let prev: string | null = expectSeq === 1 ? "0".repeat(64) : null;
  let lines = 0;
  let head: Head | null = null;
  const fail = (f: Omit<Failure, "ok" | "lines">): Failure => ({ ok: false, lines, ...f });
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    if (seg.firstSeq !== expectSeq)
      return fail({
        failure: seg.firstSeq > expectSeq ? "rotated_file_missing" : "seq_gap",
        reason: `${seg.name} starts at seq ${seg.firstSeq}, seq ${expectSeq} was due`,
        file: seg.name,
      });
    const split = await readSplit(join(dir, seg.name));
    for (const [n, text] of split.lines.entries()) {
      const parsed = parseLine(text);
      if (!parsed.ok)
        return fail({ failure: failed(parsed), reason: parsed.reason, file: seg.name, line: n + 1 });
      const bad = follow(parsed.line, expectSeq, prev);
      if (bad)
        return fail({ failure: bad[0], reason: bad[1], file: seg.name, line: n + 1, seq: parsed.line.seq });
      if (n === 0 && parsed.line.kind !== "checkpoint")
        return fail({
          failure: "bad_line",
          reason: "a segment must begin with a checkpoint",
          file: seg.name,
          line: 1,
        });
      const h = wanted.get(parsed.line.seq);
      if (h !== undefined && h.hash !== parsed.line.hash)
        return fail({
          failure: "hash_mismatch",
          reason: `checkpoint names another line at seq ${h.seq}`,
          file: seg.name,
          line: n + 1,
        });
      opts.onLine?.(parsed.line);
      prev = parsed.line.hash;
      head = { seq: parsed.line.seq, hash: parsed.line.hash };
      expectSeq++;
      lines++;
    }
    if (split.tail.length > 0 && !(last && opts.live))
      return fail({
        failure: "torn_line",
        reason: "a partial line after the last newline",
        file: seg.name,
        line: split.lines.length + 1,
      });
    if (split.lines.length === 0 && !last)
      return fail({ failure: "rotated_file_missing", reason: "an empty rotated segment", file: seg.name });
  }
  const beyond = heads.find((h) => h.seq > (head?.seq ?? 0));
  if (beyond !== undefined)
    return fail({
      failure: "truncated",
      reason: `checkpoint names seq ${beyond.seq}, the log ends at seq ${head?.seq ?? 0}`,
      seq: beyond.seq,
    });
  return { ok: true, lines, head, checkpoints: heads.length };
}

/** Export adds these to every document; they are not part of the chained line. */
const EXPORT_ONLY = ["@timestamp", "event_id"];

function stripExport(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (!EXPORT_ONLY.includes(k)) out[k] = v;
  return out;
}

export interface ShippedResult {
  readonly ok: boolean;
  readonly nodes: { readonly node: string; readonly lines: number; readonly head: Head | null }[];
  readonly failure?: VerifyFailure;
  readonly reason?: string;
  readonly node?: string;
  readonly seq?: number;
}

/**
 * Verifies documents as shipped (from the index, in any order, duplicates allowed): per node, the
 * chain from `firstSeq` (default 1) without gap or fork, and every `head` record (the checkpoint
 * sidecar's stream) naming a line that is there with that hash.
 */
export function verifyShipped(docs: Iterable<unknown>, opts: { firstSeq?: number } = {}): ShippedResult {
  const byNode = new Map<string, { lines: Map<number, AuditLine>; heads: HeadRecord[] }>();
  const group = (node: string) => {
    let g = byNode.get(node);
    if (g === undefined) {
      g = { lines: new Map(), heads: [] };
      byNode.set(node, g);
    }
    return g;
  };
  const nodes: ShippedResult["nodes"] = [];
  for (const doc of docs) {
    if (typeof doc !== "object" || doc === null)
      return { ok: false, nodes, failure: "bad_line", reason: "not a document" };
    const text = canonicalJson(stripExport(doc as Record<string, unknown>));
    const head = parseHeadRecord(text);
    if (head !== undefined) {
      group(head.node).heads.push(head);
      continue;
    }
    const p = parseLine(text);
    if (!p.ok) return { ok: false, nodes, failure: failed(p), reason: p.reason };
    if (!(AUDIT_KINDS as readonly string[]).includes(p.line.kind)) continue;
    const lines = group(p.line.node).lines;
    const seen = lines.get(p.line.seq);
    if (seen !== undefined && seen.hash !== p.line.hash)
      return {
        ok: false,
        nodes,
        failure: "fork",
        reason: `two different lines at seq ${p.line.seq}`,
        node: p.line.node,
        seq: p.line.seq,
      };
    lines.set(p.line.seq, p.line);
  }
  for (const [node, g] of byNode) {
    let expectSeq = opts.firstSeq ?? 1;
    let prev: string | null = expectSeq === 1 ? "0".repeat(64) : null;
    for (const line of [...g.lines.values()].sort((a, b) => a.seq - b.seq)) {
      const bad = follow(line, expectSeq, prev);
      if (bad) return { ok: false, nodes, failure: bad[0], reason: bad[1], node, seq: line.seq };
      prev = line.hash;
      expectSeq++;
    }
    const end = expectSeq - 1;
    for (const h of g.heads) {
      if (h.seq > end)
        return {
          ok: false,
          nodes,
          failure: "truncated",
          reason: `checkpoint names seq ${h.seq}, the stream ends at seq ${end}`,
          node,
          seq: h.seq,
        };
      if (h.seq >= (opts.firstSeq ?? 1) && g.lines.get(h.seq)?.hash !== h.hash)
        return {
          ok: false,
          nodes,
          failure: "hash_mismatch",
          reason: `checkpoint names another line at seq ${h.seq}`,
          node,
          seq: h.seq,
        };
    }
    nodes.push({ node, lines: g.lines.size, head: end > 0 ? { seq: end, hash: prev ?? "" } : null });
  }
  return { ok: true, nodes };
}
