-- Issue 14: the audit trail moves to @tkdb/audit's append-only file log. The `audit` table stays
-- (readable for databases written before, with its append-only triggers) but is no longer written.
-- Idempotency records move to @tkdb/audit's `idempotency_records` (10-minute expiry, bounded per
-- client); `requests` stays readable and is no longer written.
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
-- The audit intents whose effect committed: one row per mutation, written in the mutation's own
-- transaction, so a restart can tell an intent without outcome that committed from one that did not.
CREATE TABLE `audit_applied` (
	`node` text NOT NULL,
	`intent_seq` integer NOT NULL,
	`op` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`node`, `intent_seq`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `audit_applied_created_at` ON `audit_applied` (`created_at`);
--> statement-breakpoint
-- Epochs: one row per restore or promotion (and one for the database as it was). The current
-- epoch is the newest row. An epoch id is 8 random bytes (hex), never reissued.
CREATE TABLE `epochs` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`epoch` text NOT NULL,
	`reason` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `epochs_epoch_unique` ON `epochs` (`epoch`);
--> statement-breakpoint
-- Each app's version when it was first written in an epoch: versions up to `base_version` are the
-- ones the epoch inherited (same contents); later numbers are the epoch's own.
CREATE TABLE `app_epochs` (
	`org` text NOT NULL,
	`app` text NOT NULL,
	`epoch` text NOT NULL,
	`base_version` integer NOT NULL,
	PRIMARY KEY(`org`, `app`, `epoch`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `epochs` (`epoch`, `reason`, `created_at`)
  VALUES (lower(hex(randomblob(8))), 'initial', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
