-- Administration, audit and privacy (Personal Data Protection Law 91/2025/QH15): an append-only
-- audit log, moderation of what the public sees, and the marks the retention job leaves.

-- Who changed what (admin changes, before → after), who read whose contact details (from which
-- ticket), and what the retention job erased. Append-only: the triggers below refuse UPDATE,
-- DELETE and TRUNCATE, so no code path of the application can alter history. There is
-- deliberately no foreign key: deleting a report, user or key must never touch the log. The
-- snapshots never hold a resident's contact values, only that a field changed, so erasing an
-- account leaves nothing of it here but its id.
CREATE TABLE audit_log (
    id               uuid PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    actor_id         uuid,                 -- the user (NULL: the system, e.g. the retention job)
    actor_role       user_role,
    action           text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    entity_type      text NOT NULL CHECK (length(entity_type) BETWEEN 1 AND 40),
    entity_id        text CHECK (length(entity_id) <= 200),
    report_id        uuid,                 -- contact reads and moderation: which ticket
    subject_user_id  uuid,                 -- contact reads: whose data
    before           jsonb,
    after            jsonb,
    request_id       text CHECK (length(request_id) <= 200)
);
CREATE INDEX audit_log_by_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_by_actor ON audit_log (actor_id, at DESC);
CREATE INDEX audit_log_by_entity ON audit_log (entity_type, entity_id, at DESC);
CREATE INDEX audit_log_by_subject ON audit_log (subject_user_id, at DESC) WHERE subject_user_id IS NOT NULL;
CREATE INDEX audit_log_by_report ON audit_log (report_id, at DESC) WHERE report_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Moderation: a report hidden from the public feed (reversible; its handling goes on).
ALTER TABLE reports
    ADD COLUMN hidden_at timestamptz,
    ADD COLUMN hidden_reason text CHECK (length(hidden_reason) <= 1000),
    ADD COLUMN hidden_by uuid REFERENCES users (id) ON DELETE SET NULL,
    -- When the retention job (or the reporter's account deletion) erased who reported it.
    ADD COLUMN contact_erased_at timestamptz,
    ADD CONSTRAINT reports_hidden_complete CHECK ((hidden_at IS NULL) = (hidden_reason IS NULL));

-- Moderation: a photo whose public renditions were blurred or withdrawn (a face, a licence
-- plate). The unredacted renditions stay for staff under original_*_key until retention.
ALTER TABLE media
    ADD COLUMN redaction text CHECK (redaction IN ('blurred', 'removed')),
    ADD COLUMN redacted_at timestamptz,
    ADD COLUMN redacted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN original_display_key text,
    ADD COLUMN original_thumbnail_key text,
    ADD CONSTRAINT media_redaction_complete CHECK ((redaction IS NULL) = (redacted_at IS NULL));

-- When a report reached a final state (closed, rejected, duplicate); NULL while it is open
-- (reopening clears it). Retention counts its period from here. Kept by a trigger so that every
-- path that changes a status — transitions, the auto-close job, SQL by hand — keeps it true.
ALTER TABLE reports ADD COLUMN finished_at timestamptz;
-- A backfill is not a change of the reports: updated_at (which Open311 partners follow) stays.
ALTER TABLE reports DISABLE TRIGGER reports_updated_at;
UPDATE reports r SET finished_at = coalesce(
    (SELECT max(e.created_at) FROM report_events e WHERE e.report_id = r.id AND e.to_status = r.status),
    r.closed_at, r.updated_at)
WHERE r.status IN ('closed', 'rejected', 'duplicate');
ALTER TABLE reports ENABLE TRIGGER reports_updated_at;
CREATE FUNCTION reports_set_finished_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status IN ('closed', 'rejected', 'duplicate') THEN
            NEW.finished_at := coalesce(CASE WHEN TG_OP = 'INSERT' THEN NEW.finished_at END, now());
        ELSE
            NEW.finished_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER reports_finished_at BEFORE INSERT OR UPDATE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_set_finished_at();
-- Retention finds finished reports whose reporter is still known, by when they finished.
CREATE INDEX reports_retention ON reports (finished_at) WHERE contact_erased_at IS NULL AND finished_at IS NOT NULL;
