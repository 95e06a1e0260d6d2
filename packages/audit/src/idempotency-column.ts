/**
 * The sealed column of the idempotency records, as a KEK rotation reads and rewrites it
 * (@tkdb/service's `SealedColumn` for `rotateDatabaseKek`; this package does not depend on
 * @tkdb/service, the shape is all they share): every `sealed_result` bound to its client key, rid
 * and op exactly as `IdempotencyRecords` seals it. Fingerprints are keyed, not sealed, and cannot be
 * recomputed (the arguments are not stored): they carry the kid that made them and age out.
 */
import { aad, IDEMPOTENCY_TABLE } from "./idempotency.js";

interface Row {
  readonly client_key: string;
  readonly rid: string;
  readonly op: string;
  readonly sealed_result: Buffer;
}

/** The sealed format both apps write (0x02, @tkdb/service's keyring). */
const SHARED_FORMAT = 0x02;

/**
 * `onlySharedFormat`: leave results in another format as they are (petsem's, sealed before the
 * shared format and never released, expire within minutes) instead of stopping the rotation.
 */
export function idempotencySealedColumn(opts: { onlySharedFormat?: boolean } = {}) {
  return {
    table: IDEMPOTENCY_TABLE,
    select: `SELECT client_key, rid, op, sealed_result FROM ${IDEMPOTENCY_TABLE} ORDER BY client_key, rid`,
    update: `UPDATE ${IDEMPOTENCY_TABLE} SET sealed_result = ? WHERE client_key = ? AND rid = ?`,
    key: (r: Row): unknown[] => [r.client_key, r.rid],
    sealed: (r: Row) =>
      opts.onlySharedFormat === true && r.sealed_result[0] !== SHARED_FORMAT
        ? undefined
        : {
            purpose: "idempotency-result" as const,
            binding: {
              table: IDEMPOTENCY_TABLE,
              column: "sealed_result",
              row: [aad(r.client_key, r.rid, r.op)],
            },
            blob: new Uint8Array(r.sealed_result),
          },
  };
}
