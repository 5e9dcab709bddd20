-- Open311 GeoReport v2: partner applications post reports with an API key of their own, and the
-- contact details they send are kept with the report (not as an account).

-- An API key now serves one of two kinds of machine client: the IOC (X-Api-Key on the statistics)
-- or an Open311 partner application (api_key on POST /open311/v2/requests). A key of one kind is
-- refused by the other.
CREATE TYPE api_key_purpose AS ENUM ('ioc', 'open311');
ALTER TABLE api_keys ADD COLUMN purpose api_key_purpose NOT NULL DEFAULT 'ioc';
-- The role every key had ('ioc') is now said by `purpose`.
ALTER TABLE api_keys DROP COLUMN role;

-- Idempotency keys belong to a user or, for Open311 submissions, to an API key: the scope says
-- which. (Rows are short-lived; the sweeper deletes them by age.)
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_owner_id_fkey;

-- Who to contact about a report that was not submitted from an account (Open311 `first_name`,
-- `last_name`, `email`, `phone`), which partner application sent it, and the `media_url` it gave.
-- Personal data: seen only by the handling staff and admins, like an account's contact details.
CREATE TABLE report_contacts (
    report_id   uuid PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    api_key_id  uuid REFERENCES api_keys (id),
    first_name  text CHECK (length(first_name) <= 100),
    last_name   text CHECK (length(last_name) <= 100),
    email       text CHECK (length(email) <= 254),
    phone       text CHECK (length(phone) <= 20),
    media_url   text CHECK (length(media_url) <= 2048),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_contacts_api_key ON report_contacts (api_key_id);

-- Open311 reads: requests by last change (updated_after/updated_before), and timeline events by
-- time (servicerequestupdates).
CREATE INDEX reports_by_updated_at ON reports (updated_at, id);
CREATE INDEX report_events_by_created_at ON report_events (created_at, id);
