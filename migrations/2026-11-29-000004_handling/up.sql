-- Handling: the staff queue, transitions with their timeline, assignment, deadlines that are
-- marked when they pass, and the resident's rating, reopen and "me too".

-- Text for diacritic-insensitive search: "duong" finds "đường". translate() with an explicit
-- map (every Latin letter with diacritics, đ/Đ included) rather than the unaccent extension:
-- it is IMMUTABLE, so it can feed a generated column and an index, and it does not depend on
-- the server's locale or on a contrib package being installed.
CREATE FUNCTION phananh_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT lower(translate(
    regexp_replace(t, '[\u0300-\u036f]', '', 'g'),
    'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹđĐ',
    'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIiKkKkKkLlLlLlLlMmMmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwyAaAaAaAaAaAaAaAaAaAaAaAaEeEeEeEeEeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUuYyYyYyYydD'
)) $$;

ALTER TABLE reports
    -- who in the department works on it (a manager assigns)
    ADD COLUMN assignee_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    -- the report this one duplicates (status 'duplicate')
    ADD COLUMN duplicate_of    uuid REFERENCES reports (id) ON DELETE SET NULL,
    -- acknowledgement: due 8 working hours after submission (or after a transfer)
    ADD COLUMN ack_due_at      timestamptz,
    ADD COLUMN accepted_at     timestamptz,
    -- set by the deadline job when ack_due_at / due_at passed; the events notifications hang on
    ADD COLUMN ack_overdue_at  timestamptz,
    ADD COLUMN overdue_at      timestamptz,
    -- the one extension a manager may grant
    ADD COLUMN extended_at     timestamptz,
    ADD COLUMN resolved_at     timestamptz,
    ADD COLUMN closed_at       timestamptz,
    ADD COLUMN reopen_count    integer NOT NULL DEFAULT 0 CHECK (reopen_count >= 0),
    -- residents who said "me too" (report_followers), kept with the row for the feed
    ADD COLUMN follower_count  integer NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
    ADD COLUMN search_text     text GENERATED ALWAYS AS
        (phananh_fold(description || ' ' || coalesce(address, ''))) STORED;

-- Reports from before this migration: an approximate acknowledgement deadline, and whatever
-- is already past marked now without events, so the first deadline pass after the upgrade does
-- not raise a flood of old alarms.
UPDATE reports SET ack_due_at = created_at + interval '24 hours';
UPDATE reports SET ack_overdue_at = now() WHERE status = 'new' AND ack_due_at < now();
UPDATE reports SET overdue_at = now()
    WHERE due_at < now() AND status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened');
ALTER TABLE reports ALTER COLUMN ack_due_at SET NOT NULL;

-- The queue: open tickets of a department by deadline (the default), and everything by age.
CREATE INDEX reports_queue_due ON reports (department_id, due_at, id)
    WHERE status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened');
CREATE INDEX reports_queue_created ON reports (department_id, created_at DESC, id DESC);
CREATE INDEX reports_open_due ON reports (due_at, id)
    WHERE status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened');
CREATE INDEX reports_assignee ON reports (assignee_id) WHERE assignee_id IS NOT NULL;
-- What the deadline and auto-close jobs look for.
CREATE INDEX reports_overdue_pending ON reports (due_at)
    WHERE overdue_at IS NULL AND status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened');
CREATE INDEX reports_ack_pending ON reports (ack_due_at)
    WHERE status = 'new' AND ack_overdue_at IS NULL;
CREATE INDEX reports_resolved_since ON reports (resolved_at) WHERE status = 'resolved';

-- Substring search over the folded text. pg_trgm ships with PostgreSQL's contrib and is a
-- trusted extension (the database owner may create it); without it the search still works,
-- scanning the department's rows instead of using an index.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX reports_search ON reports USING gin (search_text gin_trgm_ops);
    END IF;
END
$$;

-- What an event carried besides the status change: the departments of a transfer, the
-- deadlines of an extension, the original of a duplicate, the assignee.
ALTER TABLE report_events ADD COLUMN details jsonb;

-- Photos staff attach to an event ("after" photos of a resolution), not the reporter's own.
ALTER TABLE media ADD COLUMN from_staff boolean NOT NULL DEFAULT false;
CREATE INDEX media_event ON media (event_id) WHERE event_id IS NOT NULL;

-- "Me too": residents following a report's updates. The reporter of a duplicate follows the
-- original.
CREATE TABLE report_followers (
    report_id   uuid NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (report_id, user_id)
);
CREATE INDEX report_followers_user ON report_followers (user_id, created_at DESC);

-- The reporter's rating of a resolution: one per resolution (a reopened and re-resolved report
-- may be rated again), numbered by the report's reopen count at the time.
CREATE TABLE report_ratings (
    report_id   uuid NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    cycle       integer NOT NULL CHECK (cycle >= 0),
    user_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    score       smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment     text CHECK (comment IS NULL OR length(comment) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (report_id, cycle)
);
