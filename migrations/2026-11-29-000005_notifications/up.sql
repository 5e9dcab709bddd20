-- Notification preferences, and the record that makes the daily digest go out once a day per
-- person however many server processes run the digest job.

-- A resident may turn push notifications off.
ALTER TABLE users ADD COLUMN push_enabled boolean NOT NULL DEFAULT true;
-- Staff: an email for each ticket event ('immediate'), or one digest of the queue at 07:30.
ALTER TABLE users ADD COLUMN email_mode text NOT NULL DEFAULT 'immediate'
    CHECK (email_mode IN ('immediate', 'digest'));

CREATE TABLE digest_runs (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day         date NOT NULL,               -- in Asia/Ho_Chi_Minh
    outbox_id   uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, day)
);
