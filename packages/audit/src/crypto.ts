/**
 * Every cryptographic call of @tkdb/audit (DESIGN.md: one crypto file per package). One
 * primitive, no parameters: SHA-256 (FIPS 180-4), written as lowercase hex.
 *
 * The audit chain is unkeyed on purpose: anyone holding the shipped stream can verify it without a
 * secret. What makes a rewrite detectable is shipping (the index keeps the first copy of every
 * event id, see export.ts) and the checkpoints, not a key on the node. Keyed fingerprints and
 * sealing of idempotency results are injected by the app (packages/service owns the KEK).
 */
import { createHash } from "node:crypto";

/** SHA-256 of UTF-8 text or bytes, as 64 lowercase hex characters. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
