DROP TABLE digest_runs;
ALTER TABLE users DROP COLUMN email_mode;
ALTER TABLE users DROP COLUMN push_enabled;
