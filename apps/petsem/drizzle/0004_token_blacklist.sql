-- Security issue 12, item 7: petsem tokens can be revoked (`petsem token revoke`). One row per revoked
-- nonce, as Fly published its blacklist; every call checks it.
CREATE TABLE `blacklist` (
	`nonce` blob NOT NULL,
	`required_until` text,
	`created_at` text DEFAULT CURRENT_TIMESTAMP
);
--> statement-breakpoint
CREATE UNIQUE INDEX `blacklist_nonce_unique` ON `blacklist` (`nonce`);