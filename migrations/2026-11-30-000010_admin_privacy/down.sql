DROP INDEX reports_retention;
DROP TRIGGER reports_finished_at ON reports;
DROP FUNCTION reports_set_finished_at();
ALTER TABLE reports DROP COLUMN finished_at;
ALTER TABLE media
    DROP CONSTRAINT media_redaction_complete,
    DROP COLUMN original_thumbnail_key,
    DROP COLUMN original_display_key,
    DROP COLUMN redacted_by,
    DROP COLUMN redacted_at,
    DROP COLUMN redaction;
ALTER TABLE reports
    DROP CONSTRAINT reports_hidden_complete,
    DROP COLUMN contact_erased_at,
    DROP COLUMN hidden_by,
    DROP COLUMN hidden_reason,
    DROP COLUMN hidden_at;
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
