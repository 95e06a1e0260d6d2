/**
 * The bodies of `tkdb audit verify|export` and `petsem audit verify|export`: the apps' CLIs (built
 * on packages/service's runner) parse their options and call these, so both commands behave the
 * same. Both read the log without the KEK and without the writer lock: they never write.
 */
import { exportBulk, ship } from "./export.js";
import { verify } from "./verify.js";

export interface CommandIo {
  /** Standard output. */
  readonly out: (text: string) => void;
}

/** `audit verify`: prints one JSON line; exit 0 when the log verifies, 1 otherwise. */
export async function auditVerifyCommand(
  dir: string,
  io: CommandIo,
  opts: { firstSeq?: number } = {},
): Promise<number> {
  const r = await verify(dir, { live: true, ...opts });
  io.out(`${JSON.stringify(r)}\n`);
  return r.ok ? 0 : 1;
}

export interface ExportCommandOptions {
  readonly indexPrefix: string;
  readonly fromSeq?: number;
  /** Post to this OpenSearch URL (its `_bulk` endpoint) instead of printing. */
  readonly shipUrl?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly batch?: number;
}

/**
 * `audit export`: the log as `_bulk` NDJSON on standard output, or shipped to `shipUrl` (then one
 * JSON line with the counts). Refuses a log that does not verify (exit 1 with the reason).
 */
export async function auditExportCommand(
  dir: string,
  opts: ExportCommandOptions,
  io: CommandIo,
): Promise<number> {
  const docs = exportBulk(dir, {
    indexPrefix: opts.indexPrefix,
    ...(opts.fromSeq ? { fromSeq: opts.fromSeq } : {}),
  });
  if (opts.shipUrl === undefined) {
    for await (const d of docs) io.out(d);
    return 0;
  }
  const r = await ship(opts.shipUrl, docs, {
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.batch ? { batch: opts.batch } : {}),
  });
  io.out(`${JSON.stringify(r)}\n`);
  return 0;
}
