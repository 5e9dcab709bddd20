DROP INDEX report_events_by_created_at;
DROP INDEX reports_by_updated_at;
DROP TABLE report_contacts;
DELETE FROM idempotency_keys WHERE owner_id NOT IN (SELECT id FROM users);
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_owner_id_fkey
    FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE;
DELETE FROM api_keys WHERE purpose <> 'ioc';
ALTER TABLE api_keys ADD COLUMN role user_role NOT NULL DEFAULT 'ioc' CHECK (role = 'ioc');
ALTER TABLE api_keys DROP COLUMN purpose;
DROP TYPE api_key_purpose;
