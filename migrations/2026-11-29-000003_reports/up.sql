-- Report intake: photos, reports and their timeline, and the idempotency records that make a
-- phone's retries safe.

CREATE TYPE report_status AS ENUM (
    'new', 'accepted', 'in_progress', 'on_hold', 'resolved', 'closed', 'rejected', 'duplicate', 'reopened'
);
-- Rules get a short number for people to cite in a routing reason ("quy tắc #12").
ALTER TABLE routing_rules ADD COLUMN number integer GENERATED ALWAYS AS IDENTITY UNIQUE;

CREATE TYPE media_status AS ENUM ('pending', 'ready');

CREATE TABLE reports (
    id                uuid PRIMARY KEY,
    -- short code a resident can read over the phone (see domain::tracking_code)
    tracking_code     text NOT NULL UNIQUE,
    -- NULL once the account is deleted (the report stays, anonymised)
    reporter_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    -- the reporter asked staff not to see who they are
    anonymous         boolean NOT NULL DEFAULT false,
    category_id       uuid NOT NULL REFERENCES categories (id) ON DELETE RESTRICT,
    area_id           uuid NOT NULL REFERENCES areas (id) ON DELETE RESTRICT,
    department_id     uuid NOT NULL REFERENCES departments (id) ON DELETE RESTRICT,
    routing_rule_id   uuid REFERENCES routing_rules (id) ON DELETE SET NULL,
    routing_reason    text NOT NULL,
    status            report_status NOT NULL DEFAULT 'new',
    description       text NOT NULL CHECK (length(description) BETWEEN 1 AND 5000),
    address           text CHECK (address IS NULL OR length(address) <= 500),
    lat               double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon               double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    accuracy_m        double precision CHECK (accuracy_m IS NULL OR accuracy_m >= 0),
    -- Personal data law 91/2025/QH15: which consent text the reporter accepted, and when.
    consent_version   text NOT NULL,
    consent_at        timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    -- optimistic concurrency for staff transitions
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- the public feed and its cursor (newest first)
CREATE INDEX reports_feed ON reports (created_at DESC, id DESC);
-- a resident's own reports
CREATE INDEX reports_reporter ON reports (reporter_id, created_at DESC, id DESC) WHERE reporter_id IS NOT NULL;
CREATE INDEX reports_area ON reports (area_id, created_at DESC);
CREATE INDEX reports_department_status ON reports (department_id, status);
CREATE INDEX reports_category ON reports (category_id, created_at DESC);
-- Where: bounding-box filters of the feed and the possible-duplicates search (GiST on a point,
-- no PostGIS needed for boxes of a few hundred metres).
CREATE INDEX reports_location ON reports USING gist (point(lon, lat));
CREATE TRIGGER reports_updated_at BEFORE UPDATE ON reports FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The timeline: one row per change, written in the same transaction as the change.
CREATE TABLE report_events (
    id             uuid PRIMARY KEY,
    report_id      uuid NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    area_id        uuid NOT NULL REFERENCES areas (id) ON DELETE RESTRICT,
    actor_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_role     user_role,
    action         text NOT NULL CHECK (action ~ '^[a-z_]{1,32}$'),
    from_status    report_status,
    to_status      report_status NOT NULL,
    public_note    text,
    internal_note  text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_events_report ON report_events (report_id, created_at, id);

-- Photos. A row is written (pending) before its files, and marked ready after them, so a crash
-- at any point leaves a row the sweeper can find: pending rows older than an hour and unattached
-- rows past expires_at are removed with their files, as are photos whose report was deleted.
CREATE TABLE media (
    id                uuid PRIMARY KEY,
    owner_id          uuid REFERENCES users (id) ON DELETE SET NULL,
    report_id         uuid REFERENCES reports (id) ON DELETE SET NULL,
    event_id          uuid REFERENCES report_events (id) ON DELETE SET NULL,
    status            media_status NOT NULL DEFAULT 'pending',
    source_format     text NOT NULL,
    width             integer NOT NULL CHECK (width > 0),
    height            integer NOT NULL CHECK (height > 0),
    bytes             bigint NOT NULL CHECK (bytes > 0),          -- the upload's size
    sha256            bytea NOT NULL,                             -- of the upload
    display_key       text NOT NULL,
    display_width     integer NOT NULL,
    display_height    integer NOT NULL,
    display_bytes     bigint NOT NULL,
    thumbnail_key     text NOT NULL,
    thumbnail_width   integer NOT NULL,
    thumbnail_height  integer NOT NULL,
    thumbnail_bytes   bigint NOT NULL,
    idempotency_key   text,
    position          smallint NOT NULL DEFAULT 0,                -- order within its report
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz,                                -- NULL once attached
    -- attached photos never expire; a photo whose report was deleted (report_id set to NULL
    -- with no expiry) is an orphan the sweeper removes
    CHECK (report_id IS NULL OR expires_at IS NULL),
    UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX media_report ON media (report_id, position) WHERE report_id IS NOT NULL;
CREATE INDEX media_unattached ON media (expires_at) WHERE report_id IS NULL;
CREATE INDEX media_pending ON media (created_at) WHERE status = 'pending';

-- Idempotent POSTs: the first request with a key stores its response; a retry with the same key
-- and the same body gets that response again, a different body gets 409. Kept for a day.
CREATE TABLE idempotency_keys (
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope         text NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  bytea NOT NULL,
    status_code   smallint,
    response      jsonb,
    resource_id   uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
