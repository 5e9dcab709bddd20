DROP TABLE idempotency_keys;
DROP TABLE media;
DROP TABLE report_events;
DROP TABLE reports;
DROP TYPE media_status;
DROP TYPE report_status;
ALTER TABLE routing_rules DROP COLUMN number;
