CREATE TABLE `audit` (
	`seq` integer PRIMARY KEY NOT NULL,
	`ts` integer NOT NULL,
	`op` text NOT NULL,
	`actor` text NOT NULL,
	`subject` text NOT NULL,
	`details` text NOT NULL,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `blacklist` (
	nonce BLOB NOT NULL UNIQUE,
	required_until DATETIME,
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP
);
--> statement-breakpoint
CREATE TABLE `meta` (
	`name` text PRIMARY KEY NOT NULL,
	`value` blob NOT NULL
);
--> statement-breakpoint
CREATE TABLE `replay` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`client_key` text NOT NULL,
	`rid` text NOT NULL,
	`op` text NOT NULL,
	`result` text NOT NULL,
	`expires` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `replay_client_rid` ON `replay` (`client_key`,`rid`);--> statement-breakpoint
CREATE TABLE `root_keys` (
	`org` text PRIMARY KEY NOT NULL,
	`kid` blob NOT NULL,
	`sealed_key` blob NOT NULL,
	`created_at` integer NOT NULL,
	`retired_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `root_keys_kid_unique` ON `root_keys` (`kid`);