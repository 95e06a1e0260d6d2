-- The audit trail moves to @tkdb/audit's append-only file log (outside the database). The old
-- `audit` table is kept, no longer written, so a database from before opens unchanged and
-- `tkdb audit export --legacy` can export it once.
--
-- Idempotency records move to @tkdb/audit's `idempotency_records` (same sealing: keyed
-- fingerprints, results sealed under a KEK subkey; expiry 10 minutes instead of 24 h; bounded
-- per client). The old sealed `idempotency` rows are overwritten (secure_delete is on at open)
-- and dropped, not converted: a retry of a request made before the upgrade runs again.
DELETE FROM `idempotency`;
--> statement-breakpoint
DROP TABLE `idempotency`;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS idempotency_records (
  client_key TEXT NOT NULL,
  rid TEXT NOT NULL,
  op TEXT NOT NULL,
  fingerprint BLOB NOT NULL,
  sealed_result BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (client_key, rid)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS idempotency_records_expires ON idempotency_records (expires_at);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS idempotency_records_client ON idempotency_records (client_key, expires_at);
--> statement-breakpoint
CREATE TABLE `audit_intents` (
	`node` text NOT NULL,
	`seq` integer NOT NULL,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`node`, `seq`)
);
