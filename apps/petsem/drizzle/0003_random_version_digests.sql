-- Security issue 12, item 1: a digest was HMAC-SHA256(per-app digest key, value), so a writer (or
-- whoever holds a backup and the KEK) could test a guessed value against it. A digest is now a
-- random 128-bit id per version. Replace every stored value-keyed digest (tombstones stay NULL),
-- forget replay records whose stored result carries one, and drop the per-app digest key, which
-- existed only for those digests. secure_delete is on (src/db.ts), so the old bytes are overwritten.
UPDATE `secret_versions` SET `digest` = randomblob(16) WHERE `digest` IS NOT NULL;
--> statement-breakpoint
DELETE FROM `requests` WHERE `result` LIKE '%hmac-sha256:%';
--> statement-breakpoint
ALTER TABLE `apps` DROP COLUMN `wrapped_digest_key`;
