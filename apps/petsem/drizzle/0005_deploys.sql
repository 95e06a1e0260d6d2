-- Issue 15: the deploy record of each app (petsem secrets deploy): the app version the next boot
-- must reach (min_version), which `list` compares with each secret's change (Deployed / Staged).
CREATE TABLE `deploys` (
	`org` text NOT NULL,
	`app` text NOT NULL,
	`min_version` integer NOT NULL,
	`deployed_at` integer NOT NULL,
	PRIMARY KEY(`org`, `app`)
);
