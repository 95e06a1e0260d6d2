CREATE TABLE `apps` (
	`org` text NOT NULL,
	`app` text NOT NULL,
	`app_version` integer NOT NULL,
	`kid` integer NOT NULL,
	`wrapped_dek` blob NOT NULL,
	`wrapped_digest_key` blob NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`org`, `app`)
);
--> statement-breakpoint
CREATE TABLE `audit` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ts` integer NOT NULL,
	`kind` text NOT NULL,
	`op` text NOT NULL,
	`org` text NOT NULL,
	`app` text NOT NULL,
	`request_id` text NOT NULL,
	`detail` text DEFAULT '{}' NOT NULL,
	`prev_hash` blob NOT NULL,
	`hash` blob NOT NULL
);
--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` blob NOT NULL
);
--> statement-breakpoint
CREATE TABLE `requests` (
	`client_key` text NOT NULL,
	`rid` text NOT NULL,
	`op` text NOT NULL,
	`fingerprint` blob NOT NULL,
	`result` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`client_key`, `rid`)
);
--> statement-breakpoint
CREATE TABLE `secret_heads` (
	`org` text NOT NULL,
	`app` text NOT NULL,
	`name` text NOT NULL,
	`version` integer NOT NULL,
	`live` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`org`, `app`, `name`)
);
--> statement-breakpoint
CREATE INDEX `secret_heads_live` ON `secret_heads` (`org`,`app`,`live`);--> statement-breakpoint
CREATE TABLE `secret_versions` (
	`org` text NOT NULL,
	`app` text NOT NULL,
	`name` text NOT NULL,
	`version` integer NOT NULL,
	`app_version` integer NOT NULL,
	`sealed` blob,
	`digest` blob,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`org`, `app`, `name`, `version`)
);
