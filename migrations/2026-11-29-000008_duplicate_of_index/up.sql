-- `reports.duplicate_of` references `reports` (ON DELETE SET NULL): without an index every deleted
-- report scans the whole table for duplicates pointing at it. Also the lookup of a report's
-- duplicates.
CREATE INDEX reports_duplicate_of ON reports (duplicate_of) WHERE duplicate_of IS NOT NULL;
