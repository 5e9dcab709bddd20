-- Statistics for the IOC (product.md "Statistics"; the definitions are in src/domain/stats.rs).
--
-- `stats_rollup` holds, for every (grain, period, area, category, department, status) cell, the
-- sums the figures are made of. It is maintained by statement-level triggers on `reports` and
-- `report_ratings`, so it changes in the same transaction as the rows it summarises and can never
-- go stale. Periods are local dates (Asia/Ho_Chi_Minh) of submission at three grains — day
-- ('d'), month ('m'), year ('y') — so any date range is a few hundred rows: whole years, whole
-- months, and the days at its edges.
--
-- Durations go into histograms of 48 logarithmic bins (see `phananh_stats_bin`), from which
-- medians and percentiles of large selections are interpolated; small selections are computed
-- exactly from `reports`.

-- Working minutes from submission to first acknowledgement and to resolution, computed by the
-- server's working-time calendar when the moment is recorded (so a later holiday edit does not
-- rewrite history).
ALTER TABLE reports ADD COLUMN ack_working_minutes integer;
ALTER TABLE reports ADD COLUMN resolve_working_minutes integer;

-- One snapshot per period however many processes push (and any other message that must exist
-- once).
ALTER TABLE outbox ADD COLUMN dedup_key text;
CREATE UNIQUE INDEX outbox_dedup_key ON outbox (dedup_key) WHERE dedup_key IS NOT NULL;

-- Working minutes between two moments by the Mon–Fri 07:30–11:30 / 13:00–17:00 calendar and the
-- holidays table. Used only to backfill reports that existed before this migration; the server
-- computes the value itself from then on.
CREATE FUNCTION phananh_backfill_working_minutes(a timestamptz, b timestamptz) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(greatest(0, extract(epoch FROM
               least(b, (d + p.t_to)   AT TIME ZONE 'Asia/Ho_Chi_Minh')
             - greatest(a, (d + p.t_from) AT TIME ZONE 'Asia/Ho_Chi_Minh')) / 60)), 0)::integer
    FROM generate_series((a AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
                         (b AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, interval '1 day') AS g(d0),
         LATERAL (SELECT g.d0::date AS d) dd(d),
         (VALUES (time '07:30', time '11:30'), (time '13:00', time '17:00')) AS p(t_from, t_to)
    WHERE b > a
      AND CASE (SELECT kind FROM holidays h WHERE h.day = d)
            WHEN 'working_day' THEN true
            WHEN 'day_off' THEN false
            ELSE extract(isodow FROM d) < 6 END
$$;
UPDATE reports SET ack_working_minutes = phananh_backfill_working_minutes(created_at, accepted_at)
 WHERE accepted_at IS NOT NULL;
UPDATE reports SET resolve_working_minutes = phananh_backfill_working_minutes(created_at, resolved_at)
 WHERE resolved_at IS NOT NULL;
DROP FUNCTION phananh_backfill_working_minutes(timestamptz, timestamptz);

-- The histogram bin of a duration in minutes: bin 0 is under 15 minutes; bin i (1..46) is
-- [15·2^((i-1)/3), 15·2^(i/3)) minutes, each about 26 % wider than the last; bin 47 is everything
-- from 15·2^(46/3) minutes (about 430 days) on. NULL for no duration.
CREATE FUNCTION phananh_stats_bin(minutes double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN minutes IS NULL THEN NULL
                WHEN minutes < 15 THEN 0
                ELSE least(47, floor(3 * log(2.0, (minutes / 15.0)::numeric)) + 1) END::smallint
$$;

-- What one report contributes to the rollup: its cell and its per-report terms. `score` is its
-- latest rating (NULL when not rated). The figures' definitions live here and in
-- src/domain/stats.rs, which documents them.
CREATE TYPE stats_terms AS (
    day            date,
    area_id        uuid,
    category_id    uuid,
    department_id  uuid,
    status         report_status,
    on_time        integer,
    late           integer,
    overdue_open   integer,
    reopened       integer,
    ever_resolved  integer,
    rated          integer,
    score          integer,
    satisfied      integer,
    ack_bin        smallint,
    ack_work_bin   smallint,
    res_bin        smallint,
    res_work_bin   smallint
);

CREATE FUNCTION phananh_stats_terms(r reports, score smallint) RETURNS stats_terms
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(
        (r.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
        r.area_id, r.category_id, r.department_id, r.status,
        coalesce(r.status IN ('resolved', 'closed') AND r.resolved_at <= r.due_at, false)::int,
        coalesce((r.status IN ('resolved', 'closed') AND r.resolved_at > r.due_at)
          OR (r.status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened')
              AND r.overdue_at IS NOT NULL), false)::int,
        (r.status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened')
          AND r.overdue_at IS NOT NULL)::int,
        (r.reopen_count > 0)::int,
        (r.resolved_at IS NOT NULL OR r.reopen_count > 0)::int,
        (score IS NOT NULL)::int,
        coalesce(score, 0)::int,
        coalesce(score >= 4, false)::int,
        phananh_stats_bin(extract(epoch FROM r.accepted_at - r.created_at) / 60),
        CASE WHEN r.accepted_at IS NOT NULL
             THEN phananh_stats_bin(coalesce(r.ack_working_minutes, 0)) END,
        CASE WHEN r.status IN ('resolved', 'closed') AND r.resolved_at IS NOT NULL
             THEN phananh_stats_bin(extract(epoch FROM r.resolved_at - r.created_at) / 60) END,
        CASE WHEN r.status IN ('resolved', 'closed') AND r.resolved_at IS NOT NULL
             THEN phananh_stats_bin(coalesce(r.resolve_working_minutes, 0)) END
    )::stats_terms
$$;

-- The latest rating of a report.
CREATE FUNCTION phananh_latest_score(report uuid) RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT score FROM report_ratings WHERE report_id = report ORDER BY cycle DESC LIMIT 1
$$;

CREATE TABLE stats_rollup (
    grain          "char" NOT NULL CHECK (grain IN ('d', 'm', 'y')),
    period         date NOT NULL,            -- first day of the day/month/year, local time
    area_id        uuid NOT NULL,
    category_id    uuid NOT NULL,
    department_id  uuid NOT NULL,
    status         report_status NOT NULL,
    n              bigint NOT NULL DEFAULT 0, -- reports
    on_time        bigint NOT NULL DEFAULT 0,
    late           bigint NOT NULL DEFAULT 0,
    overdue_open   bigint NOT NULL DEFAULT 0,
    reopened       bigint NOT NULL DEFAULT 0,
    ever_resolved  bigint NOT NULL DEFAULT 0,
    rated          bigint NOT NULL DEFAULT 0,
    rating_sum     bigint NOT NULL DEFAULT 0,
    satisfied      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, period, area_id, category_id, department_id, status)
);

-- The histogram columns (ack_h0 … ack_h47, ackw_h*, res_h*, resw_h*), the trigger functions, the
-- from-scratch view and the rebuild function are generated here so the 192 column names are
-- written once.
DO $gen$
DECLARE
    hist    text[] := ARRAY['ack', 'ackw', 'res', 'resw'];
    bins    text[] := ARRAY['ack_bin', 'ack_work_bin', 'res_bin', 'res_work_bin'];
    cols    text := 'n, on_time, late, overdue_open, reopened, ever_resolved, rated, rating_sum, satisfied';
    sums    text := 'sum(d.s), sum(d.s * d.on_time), sum(d.s * d.late), sum(d.s * d.overdue_open), '
                    'sum(d.s * d.reopened), sum(d.s * d.ever_resolved), sum(d.s * d.rated), '
                    'sum(d.s * d.score), sum(d.s * d.satisfied)';
    sets    text := 'n = r.n + excluded.n, on_time = r.on_time + excluded.on_time, '
                    'late = r.late + excluded.late, overdue_open = r.overdue_open + excluded.overdue_open, '
                    'reopened = r.reopened + excluded.reopened, '
                    'ever_resolved = r.ever_resolved + excluded.ever_resolved, '
                    'rated = r.rated + excluded.rated, rating_sum = r.rating_sum + excluded.rating_sum, '
                    'satisfied = r.satisfied + excluded.satisfied';
    c       text;
    sel     text;
    upsert  text;
    -- Signed terms of a change: what the new rows contribute minus what the old rows did, with
    -- identical contributions cancelled first (a change that touches no figure writes nothing).
    changed text := $q$
        delta AS (SELECT 1 AS s, a.* FROM (SELECT * FROM nw EXCEPT ALL SELECT * FROM od) a
                  UNION ALL
                  SELECT -1 AS s, b.* FROM (SELECT * FROM od EXCEPT ALL SELECT * FROM nw) b)
    $q$;
BEGIN
    FOR h IN 1..4 LOOP
        FOR b IN 0..47 LOOP
            c := format('%s_h%s', hist[h], b);
            EXECUTE format('ALTER TABLE stats_rollup ADD COLUMN %I integer NOT NULL DEFAULT 0', c);
            cols := cols || ', ' || c;
            sums := sums || format(', sum(d.s * coalesce(d.%I = %s, false)::int)', bins[h], b);
            sets := sets || format(', %1$I = r.%1$I + excluded.%1$I', c);
        END LOOP;
    END LOOP;

    -- The sums of `delta` (columns s and stats_terms) per cell, at the three grains, in key order.
    sel := format($f$
        SELECT g.grain,
               CASE g.grain WHEN 'd' THEN d.day
                            WHEN 'm' THEN date_trunc('month', d.day)::date
                            ELSE date_trunc('year', d.day)::date END,
               d.area_id, d.category_id, d.department_id, d.status, %s
        FROM delta d CROSS JOIN (VALUES ('d'::"char"), ('m'::"char"), ('y'::"char")) AS g(grain)
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY 1, 2, 3, 4, 5, 6
    $f$, sums);
    -- Rows are written in key order, so two statements never take the cells' locks in opposite
    -- orders (no deadlock between, say, a transfer A→B and one B→A).
    upsert := format($f$
        INSERT INTO stats_rollup AS r (grain, period, area_id, category_id, department_id, status, %s)
        %s
        ON CONFLICT (grain, period, area_id, category_id, department_id, status) DO UPDATE SET %s
    $f$, cols, sel, sets);

    -- What the rollup must hold, computed from scratch (the tests compare the two).
    EXECUTE format($f$
        CREATE VIEW stats_rollup_from_scratch (grain, period, area_id, category_id, department_id,
                                               status, %s) AS
        WITH delta AS (SELECT 1 AS s, t.* FROM reports x,
                       LATERAL phananh_stats_terms(x, phananh_latest_score(x.id)) t)
        %s
    $f$, cols, sel);

    EXECUTE format($f$
        CREATE FUNCTION phananh_stats_rebuild() RETURNS void LANGUAGE plpgsql AS $body$
        BEGIN
            LOCK TABLE reports IN SHARE MODE;
            DELETE FROM stats_rollup;
            INSERT INTO stats_rollup (grain, period, area_id, category_id, department_id, status, %s)
            SELECT * FROM stats_rollup_from_scratch;
        END $body$
    $f$, cols);

    EXECUTE format($f$
        CREATE FUNCTION phananh_stats_reports_insert() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            WITH delta AS (SELECT 1 AS s, t.* FROM new_rows x,
                           LATERAL phananh_stats_terms(x, phananh_latest_score(x.id)) t)
            %s;
            RETURN NULL;
        END $body$
    $f$, upsert);

    EXECUTE format($f$
        CREATE FUNCTION phananh_stats_reports_update() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            WITH nw AS (SELECT t.* FROM new_rows x,
                        LATERAL phananh_stats_terms(x, phananh_latest_score(x.id)) t),
                 od AS (SELECT t.* FROM old_rows x,
                        LATERAL phananh_stats_terms(x, phananh_latest_score(x.id)) t),
                 %s
            %s;
            RETURN NULL;
        END $body$
    $f$, changed, upsert);

    -- Per row and before the delete: the ratings a deleted report takes with it (ON DELETE
    -- CASCADE) are gone by the time a statement-level trigger would run, and its latest score
    -- must be subtracted too.
    EXECUTE format($f$
        CREATE FUNCTION phananh_stats_reports_delete() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            WITH delta AS (SELECT -1 AS s, t.*
                           FROM phananh_stats_terms(OLD, phananh_latest_score(OLD.id)) t)
            %s;
            RETURN OLD;
        END $body$
    $f$, upsert);

    -- A new rating changes its report's latest score: before = the latest among the ratings that
    -- are not new.
    EXECUTE format($f$
        CREATE FUNCTION phananh_stats_ratings_insert() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            WITH ids AS (SELECT DISTINCT report_id FROM new_rows),
                 nw AS (SELECT t.* FROM reports x JOIN ids ON ids.report_id = x.id,
                        LATERAL phananh_stats_terms(x, phananh_latest_score(x.id)) t),
                 od AS (SELECT t.* FROM reports x JOIN ids ON ids.report_id = x.id,
                        LATERAL phananh_stats_terms(x, (
                            SELECT score FROM report_ratings p
                            WHERE p.report_id = x.id
                              AND NOT EXISTS (SELECT 1 FROM new_rows q
                                              WHERE q.report_id = p.report_id AND q.cycle = p.cycle)
                            ORDER BY p.cycle DESC LIMIT 1)) t),
                 %s
            %s;
            RETURN NULL;
        END $body$
    $f$, changed, upsert);

    -- A deleted rating: before = the latest among the remaining ones and the deleted ones.
    EXECUTE format($f$
        CREATE FUNCTION phananh_stats_ratings_delete() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            WITH ids AS (SELECT DISTINCT report_id FROM old_rows),
                 nw AS (SELECT t.* FROM reports x JOIN ids ON ids.report_id = x.id,
                        LATERAL phananh_stats_terms(x, phananh_latest_score(x.id)) t),
                 od AS (SELECT t.* FROM reports x JOIN ids ON ids.report_id = x.id,
                        LATERAL phananh_stats_terms(x, (
                            SELECT score FROM (SELECT cycle, score FROM report_ratings p
                                               WHERE p.report_id = x.id
                                               UNION ALL
                                               SELECT cycle, score FROM old_rows q
                                               WHERE q.report_id = x.id) s
                            ORDER BY s.cycle DESC LIMIT 1)) t),
                 %s
            %s;
            RETURN NULL;
        END $body$
    $f$, changed, upsert);
END
$gen$;

CREATE TRIGGER stats_reports_insert AFTER INSERT ON reports
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION phananh_stats_reports_insert();
CREATE TRIGGER stats_reports_update AFTER UPDATE ON reports
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION phananh_stats_reports_update();
CREATE TRIGGER stats_reports_delete BEFORE DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION phananh_stats_reports_delete();
CREATE TRIGGER stats_ratings_insert AFTER INSERT ON report_ratings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION phananh_stats_ratings_insert();
CREATE TRIGGER stats_ratings_delete AFTER DELETE ON report_ratings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION phananh_stats_ratings_delete();

-- The reports that already exist.
SELECT phananh_stats_rebuild();
