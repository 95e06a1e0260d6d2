-- Replay records held every result in the clear (minted and stripped tokens, discharges): they
-- are overwritten (secure_delete is on at open) and dropped, not converted. A retry of a request
-- made before the upgrade simply runs again.
DELETE FROM `replay`;
--> statement-breakpoint
DROP TABLE `replay`;
--> statement-breakpoint
CREATE TABLE `idempotency` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`client_key` text NOT NULL,
	`rid` text NOT NULL,
	`op` text NOT NULL,
	`fingerprint` blob NOT NULL,
	`sealed_result` blob NOT NULL,
	`expires` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `idempotency_client_rid` ON `idempotency` (`client_key`,`rid`);--> statement-breakpoint
CREATE TABLE `tokens` (
	`nonce` blob PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`kind` text NOT NULL,
	`parent` blob,
	`mint_caveats` integer NOT NULL,
	`expires` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tokens_parent` ON `tokens` (`parent`);
