DROP TABLE report_ratings;
DROP TABLE report_followers;
DROP INDEX media_event;
ALTER TABLE media DROP COLUMN from_staff;
ALTER TABLE report_events DROP COLUMN details;
DROP INDEX IF EXISTS reports_search;
-- Created by up.sql; without CASCADE this refuses if anything else came to depend on it.
DROP EXTENSION IF EXISTS pg_trgm;
DROP INDEX reports_resolved_since;
DROP INDEX reports_ack_pending;
DROP INDEX reports_overdue_pending;
DROP INDEX reports_assignee;
DROP INDEX reports_open_due;
DROP INDEX reports_queue_created;
DROP INDEX reports_queue_due;
ALTER TABLE reports
    DROP COLUMN search_text,
    DROP COLUMN follower_count,
    DROP COLUMN reopen_count,
    DROP COLUMN closed_at,
    DROP COLUMN resolved_at,
    DROP COLUMN extended_at,
    DROP COLUMN overdue_at,
    DROP COLUMN ack_overdue_at,
    DROP COLUMN accepted_at,
    DROP COLUMN ack_due_at,
    DROP COLUMN duplicate_of,
    DROP COLUMN assignee_id;
DROP FUNCTION phananh_fold(text);
