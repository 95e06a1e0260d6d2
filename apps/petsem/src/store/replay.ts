/**
 * Replay records: `(client key, rid) → (op, keyed fingerprint of the arguments, result)`, written
 * in the write's own transaction, kept 24 h. A repeat gets the stored result; a repeat with other
 * arguments is `idempotency_mismatch`. The fingerprint covers which names are set or unset, never
 * the values (it is stored outside the ciphertext: comparing it would be an oracle on values).
 */
import { and, eq } from "drizzle-orm";
import { PetsemError } from "../errors.js";
import * as t from "../schema.js";
import type { StoreCore } from "./core.js";

/** How long (client key, rid) → result records are kept. */
const REQUEST_RETENTION_MS = 24 * 3600 * 1000;

export interface ReplayKey {
  readonly clientKey: string;
  readonly rid: string;
}

/** The stored result of an earlier call with this rid, or undefined. */
export function priorResult<R>(
  core: StoreCore,
  idem: ReplayKey,
  op: string,
  fingerprint: Uint8Array,
): R | undefined {
  const prior = core.db
    .select()
    .from(t.requests)
    .where(and(eq(t.requests.clientKey, idem.clientKey), eq(t.requests.rid, idem.rid)))
    .get();
  if (!prior) return undefined;
  if (prior.op !== op || !core.crypto.equal(new Uint8Array(prior.fingerprint), fingerprint)) {
    throw new PetsemError("idempotency_mismatch", "request id reused with different arguments");
  }
  return JSON.parse(prior.result) as R;
}

export function saveResult(
  core: StoreCore,
  idem: ReplayKey,
  op: string,
  fingerprint: Uint8Array,
  result: unknown,
): void {
  core.db
    .insert(t.requests)
    .values({
      clientKey: idem.clientKey,
      rid: idem.rid,
      op,
      fingerprint: Buffer.from(fingerprint),
      result: JSON.stringify(result),
      createdAt: core.now(),
    })
    .run();
  // Replay records outlive any sane client retry, then go (indexed on created_at).
  core.sqlite.prepare("DELETE FROM requests WHERE created_at < ?").run(core.now() - REQUEST_RETENTION_MS);
}
