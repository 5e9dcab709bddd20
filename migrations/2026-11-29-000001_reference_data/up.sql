-- Reference data: where a report can come from (areas), what it can be about (categories), who
-- handles it (departments), how it gets there (routing rules) and when it is due (holidays).
-- Reports, events, media, users and the outbox arrive in later migrations; every hot table that
-- follows carries an area_id so the schema can be sharded by area later.

-- For the exclusion constraint on areas (text equality inside a GiST index). Trusted: a database
-- owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TYPE area_kind AS ENUM ('commune', 'ward', 'township', 'special_zone', 'district', 'province');
CREATE TYPE department_kind AS ENUM ('kinh_te', 'van_hoa_xa_hoi', 'van_phong', 'cong_an', 'triage', 'other');
CREATE TYPE deadline_unit AS ENUM ('working_days', 'working_hours');
CREATE TYPE holiday_kind AS ENUM ('day_off', 'working_day');

-- Generic updated_at maintenance, shared by every table that has the column.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- Communes, wards, ... National codes are reused with new meanings across reorganisations
-- (24931 was TT Thạnh Mỹ before 2025-07-01), so an area is a code *during a period*; reports keep
-- the area row they were routed to, never just the code.
CREATE TABLE areas (
    id            uuid PRIMARY KEY,
    code          text NOT NULL CHECK (code ~ '^[0-9A-Za-z_-]{1,32}$'),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    full_name     text,
    name_en       text,
    kind          area_kind NOT NULL DEFAULT 'commune',
    valid_from    date NOT NULL,
    valid_to      date,                         -- exclusive; NULL = still in force
    successor_id  uuid REFERENCES areas (id) ON DELETE SET NULL,
    boundary      jsonb,                        -- GeoJSON Polygon or MultiPolygon (WGS84)
    centroid_lat  double precision NOT NULL CHECK (centroid_lat BETWEEN -90 AND 90),
    centroid_lon  double precision NOT NULL CHECK (centroid_lon BETWEEN -180 AND 180),
    bbox_min_lon  double precision,
    bbox_min_lat  double precision,
    bbox_max_lon  double precision,
    bbox_max_lat  double precision,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    CHECK (successor_id IS NULL OR successor_id <> id),
    CHECK (boundary IS NULL OR boundary ->> 'type' IN ('Polygon', 'MultiPolygon')),
    -- a bounding box is all four numbers or none, and never inside out
    CHECK ((bbox_min_lon IS NULL) = (bbox_min_lat IS NULL)
       AND (bbox_min_lon IS NULL) = (bbox_max_lon IS NULL)
       AND (bbox_min_lon IS NULL) = (bbox_max_lat IS NULL)),
    CHECK (bbox_min_lon IS NULL OR (bbox_min_lon <= bbox_max_lon AND bbox_min_lat <= bbox_max_lat)),
    UNIQUE (code, valid_from),
    -- Two areas never hold the same code over overlapping periods.
    EXCLUDE USING gist (code WITH =, daterange(valid_from, valid_to) WITH &&)
);
-- At most one area in force per code.
CREATE UNIQUE INDEX areas_current_code ON areas (code) WHERE valid_to IS NULL;
CREATE TRIGGER areas_updated_at BEFORE UPDATE ON areas FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A department belongs to one area, or to none for a jurisdiction-wide desk (the triage desk).
CREATE TABLE departments (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    kind        department_kind NOT NULL DEFAULT 'other',
    area_id     uuid REFERENCES areas (id) ON DELETE RESTRICT,
    email       text,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX departments_area ON departments (area_id);
CREATE TRIGGER departments_updated_at BEFORE UPDATE ON departments FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Categories (lĩnh vực) with their legal deadline.
CREATE TABLE categories (
    id               uuid PRIMARY KEY,
    code             text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{0,39}$'),
    name_vi          text NOT NULL CHECK (length(btrim(name_vi)) BETWEEN 1 AND 200),
    name_en          text NOT NULL CHECK (length(btrim(name_en)) BETWEEN 1 AND 200),
    description      text NOT NULL DEFAULT '',
    deadline_amount  integer NOT NULL CHECK (deadline_amount BETWEEN 1 AND 1000),
    deadline_unit    deadline_unit NOT NULL DEFAULT 'working_days',
    urgent           boolean NOT NULL DEFAULT false,
    public           boolean NOT NULL DEFAULT true,   -- false: never shown in the public feed
    active           boolean NOT NULL DEFAULT true,   -- false: no new reports; history keeps it
    sort_order       integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER categories_updated_at BEFORE UPDATE ON categories FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- category × area → department. A NULL category or area matches any. Among the rules that match
-- a report, the most specific wins (both set beats one set beats neither); between a
-- category-only and an area-only rule, the higher priority wins. One rule per (category, area)
-- pair; the catch-all (NULL, NULL) rule routes to the triage desk.
CREATE TABLE routing_rules (
    id             uuid PRIMARY KEY,
    category_id    uuid REFERENCES categories (id) ON DELETE CASCADE,
    area_id        uuid REFERENCES areas (id) ON DELETE CASCADE,
    department_id  uuid NOT NULL REFERENCES departments (id) ON DELETE RESTRICT,
    priority       integer NOT NULL DEFAULT 0,
    active         boolean NOT NULL DEFAULT true,
    note           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (category_id, area_id)
);
CREATE INDEX routing_rules_department ON routing_rules (department_id);
CREATE INDEX routing_rules_area ON routing_rules (area_id);
CREATE TRIGGER routing_rules_updated_at BEFORE UPDATE ON routing_rules FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The working-time calendar's exceptions: weekdays off (public holidays, Tết) and weekend days that
-- are working days (make-up Saturdays decreed by the government). Everything else follows Mon–Fri.
CREATE TABLE holidays (
    day         date PRIMARY KEY,
    kind        holiday_kind NOT NULL DEFAULT 'day_off',
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- a day off is a weekday, a make-up working day is a Saturday or Sunday
    CHECK ((kind = 'working_day') = (EXTRACT(ISODOW FROM day) >= 6))
);
CREATE TRIGGER holidays_updated_at BEFORE UPDATE ON holidays FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Facts about this deployment's database (e.g. when the default seed was applied), so that start-up
-- never re-seeds a database whose admin deliberately removed the defaults.
CREATE TABLE deployment_facts (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
