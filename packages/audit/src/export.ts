/**
 * Export to OpenSearch: `_bulk` NDJSON (two lines per document: the action, then the document)
 * and a small shipper for `tkdb audit export --ship` and tests. In production the standard shipper
 * (infra/audit/vector.yaml) does the same job from the files.
 *
 * - Index per day: `<prefix>-YYYY.MM.DD` (UTC date of the event's `ts`), the pattern the index
 *   template and the retention policy (infra/audit/opensearch-template.json) match.
 * - Action `create` with `_id` = `event_id` = `<node>:<seq>:<first 16 hex of hash>`: the index keeps
 *   the first copy of every event, a re-export is idempotent (409, counted as a duplicate), and a
 *   rewritten event gets another id, so a fork shows in the index instead of overwriting history.
 * - Each document is the line plus `@timestamp` (= ts) and `event_id`; the sidecar's checkpoint
 *   (`head`) records are documents too, so the index holds what verifyShipped needs.
 */
import { join } from "node:path";
import { AuditError } from "./errors.js";
import type { AuditLine } from "./event.js";
import { CHECKPOINT_FILE, type HeadRecord, listSegments, parseHeadRecord, readSplit } from "./files.js";
import { verify } from "./verify.js";

/** Fields export adds to every document (mapped by the index template, not chained). */
export const EXPORT_FIELDS = { "@timestamp": "date", event_id: "keyword" } as const;

export function eventId(doc: { node: string; seq: number; hash: string; kind: string }): string {
  return doc.kind === "head"
    ? `${doc.node}:head:${doc.seq}`
    : `${doc.node}:${doc.seq}:${doc.hash.slice(0, 16)}`;
}

/** An index prefix OpenSearch accepts and a template pattern can match: `tkdb-audit`, `petsem-audit`. */
export const INDEX_PREFIX_RE = /^[a-z][a-z0-9_-]{0,63}$/;

export function indexName(prefix: string, ts: string): string {
  if (!INDEX_PREFIX_RE.test(prefix)) throw new AuditError("invalid_request", "bad index prefix");
  return `${prefix}-${ts.slice(0, 4)}.${ts.slice(5, 7)}.${ts.slice(8, 10)}`;
}

/** The two `_bulk` lines of one document, each ending in a newline. */
export function toBulk(doc: AuditLine | HeadRecord, prefix: string): string {
  const id = eventId(doc);
  const action = { create: { _index: indexName(prefix, doc.ts), _id: id } };
  return `${JSON.stringify(action)}\n${JSON.stringify({ ...doc, "@timestamp": doc.ts, event_id: id })}\n`;
}

export interface ExportOptions {
  /** Index prefix: `tkdb-audit` or `petsem-audit`. */
  readonly indexPrefix: string;
  /** Export lines with seq ≥ this. Default 1. */
  readonly fromSeq?: number;
  /** Verify the whole log first and refuse (integrity) if it does not verify. Default true. */
  readonly verify?: boolean;
}

/** `_bulk` documents (two lines each) for the log in `dir`, then its checkpoint records. */
export async function* exportBulk(dir: string, opts: ExportOptions): AsyncGenerator<string> {
  const from = opts.fromSeq ?? 1;
  if (opts.verify !== false) {
    const r = await verify(dir, { live: true });
    if (!r.ok) throw new AuditError("integrity", `audit log does not verify: ${r.failure} (${r.reason})`);
  }
  const segments = listSegments(dir);
  for (const [i, seg] of segments.entries()) {
    const next = segments[i + 1];
    if (next !== undefined && next.firstSeq <= from) continue;
    const { lines } = await readSplit(join(dir, seg.name));
    for (const text of lines) {
      const line = JSON.parse(text) as AuditLine;
      if (line.seq >= from) yield toBulk(line, opts.indexPrefix);
    }
  }
  try {
    const { lines } = await readSplit(join(dir, CHECKPOINT_FILE));
    for (const text of lines) {
      const h = parseHeadRecord(text);
      if (h !== undefined && h.seq >= from) yield toBulk(h, opts.indexPrefix);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

export interface ShipOptions {
  /** Documents per request. Default 500. */
  readonly batch?: number;
  /** Attempts per request on a network error, 429 or 5xx. Default 5. */
  readonly attempts?: number;
  /** First backoff; doubles per attempt, capped at 30 s. Default 200 ms. */
  readonly backoffMs?: number;
  /** E.g. authorization: passed through, never logged or put in an error. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly fetch?: typeof fetch;
}

export interface ShipResult {
  readonly documents: number;
  readonly created: number;
  /** Already in the index (409 on create): a re-export. */
  readonly duplicates: number;
}

interface BulkItem {
  readonly status?: number;
  readonly _id?: string;
  readonly error?: { readonly type?: string };
}

function bulkUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AuditError("invalid_request", "the _bulk URL does not parse");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new AuditError("invalid_request", "the _bulk URL must be http(s)");
  if (u.username !== "" || u.password !== "")
    throw new AuditError("invalid_request", "credentials go in headers, not in the _bulk URL");
  if (!u.pathname.endsWith("/_bulk")) u.pathname = `${u.pathname.replace(/\/$/, "")}/_bulk`;
  return u.toString();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Posts `_bulk` documents (pairs of lines as `exportBulk` yields them) in batches. A batch is
 * retried with backoff on a network error, 429 or 5xx; items the response marks 429 or 5xx are
 * retried alone; 409 counts as already shipped; any other item error, or attempts exhausted, is
 * `unavailable` naming the event id and OpenSearch's error type (never a document's content).
 */
export async function ship(
  url: string,
  docs: AsyncIterable<string> | Iterable<string>,
  opts: ShipOptions = {},
): Promise<ShipResult> {
  const target = bulkUrl(url);
  const size = opts.batch ?? 500;
  if (!Number.isSafeInteger(size) || size < 1)
    throw new AuditError("invalid_request", "batch must be a positive integer");
  const totals = { documents: 0, created: 0, duplicates: 0 };
  let batch: string[] = [];
  const send = async () => {
    const r = await sendBatch(target, batch, opts);
    totals.documents += batch.length;
    totals.created += r.created;
    totals.duplicates += r.duplicates;
    batch = [];
  };
  for await (const doc of docs) {
    batch.push(doc);
    if (batch.length >= size) await send();
  }
  if (batch.length > 0) await send();
  return totals;
}

async function sendBatch(target: string, docs: readonly string[], opts: ShipOptions) {
  const attempts = opts.attempts ?? 5;
  const doFetch = opts.fetch ?? fetch;
  let todo = docs;
  let created = 0;
  let duplicates = 0;
  for (let attempt = 0; attempt < attempts && todo.length > 0; attempt++) {
    if (attempt > 0) await sleep(Math.min(30_000, (opts.backoffMs ?? 200) * 2 ** (attempt - 1)));
    let res: Response;
    try {
      res = await doFetch(target, {
        method: "POST",
        headers: { ...opts.headers, "content-type": "application/x-ndjson" },
        body: todo.join(""),
      });
    } catch {
      continue;
    }
    if (res.status === 429 || res.status >= 500) continue;
    if (res.status !== 200) throw new AuditError("unavailable", `_bulk answered status ${res.status}`);
    const body = (await res.json().catch(() => null)) as { errors?: unknown; items?: unknown } | null;
    if (
      body === null ||
      typeof body.errors !== "boolean" ||
      !Array.isArray(body.items) ||
      body.items.length !== todo.length
    )
      throw new AuditError("unavailable", "_bulk answered something that is not a bulk response");
    const retry: string[] = [];
    body.items.forEach((raw, i) => {
      const item = (raw as Record<string, BulkItem>).create ?? (raw as Record<string, BulkItem>).index ?? {};
      const status = item.status ?? 0;
      if (status === 200 || status === 201) created++;
      else if (status === 409) duplicates++;
      else if (status === 429 || status >= 500) retry.push(todo[i] as string);
      else
        throw new AuditError(
          "unavailable",
          `_bulk refused event ${String(item._id ?? "?")}: ${String(item.error?.type ?? `status ${status}`)}`,
        );
    });
    if (body.errors === false && retry.length > 0)
      throw new AuditError("unavailable", "_bulk said no errors but an item failed");
    todo = retry;
  }
  if (todo.length > 0)
    throw new AuditError(
      "unavailable",
      `_bulk did not take ${todo.length} documents after ${attempts} attempts`,
    );
  return { created, duplicates };
}
