DROP INDEX reports_duplicate_of;
