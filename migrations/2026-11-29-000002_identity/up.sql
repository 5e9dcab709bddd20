-- Identity and access: accounts, sessions with rotating refresh tokens, password resets, push
-- devices, API keys for machine clients, and the outbox that carries messages out of the process.

CREATE TYPE user_role AS ENUM ('citizen', 'staff', 'manager', 'admin', 'ioc');
CREATE TYPE user_status AS ENUM ('active', 'disabled', 'deleted');
CREATE TYPE device_platform AS ENUM ('android', 'ios', 'web');
CREATE TYPE outbox_kind AS ENUM ('email', 'push', 'ioc_snapshot');
CREATE TYPE outbox_status AS ENUM ('pending', 'delivered', 'dead');

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    phone           text UNIQUE CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),   -- E.164
    email           text UNIQUE CHECK (email = lower(email) AND position('@' IN email) > 1),
    full_name       text NOT NULL,
    password_hash   text,                 -- PHC string (argon2id, parameters inside); NULL once deleted
    role            user_role NOT NULL DEFAULT 'citizen',
    department_id   uuid REFERENCES departments (id) ON DELETE RESTRICT,
    status          user_status NOT NULL DEFAULT 'active',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- a live account can be reached by phone or email; a deleted one keeps neither
    CHECK (status = 'deleted' OR phone IS NOT NULL OR email IS NOT NULL),
    -- staff and managers belong to exactly one department; nobody else belongs to one
    CHECK ((role IN ('staff', 'manager')) = (department_id IS NOT NULL))
);
CREATE INDEX users_department ON users (department_id) WHERE department_id IS NOT NULL;
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Password-guessing brake, per login identifier (SHA-256 of the normalised phone or email),
-- whether or not an account exists for it, so a lock-out reveals nothing about who has an
-- account. Every attempt is counted *before* its password is checked, so parallel guesses cannot
-- slip past the limit; a success deletes the row.
CREATE TABLE login_attempts (
    login_key     bytea PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    window_start  timestamptz NOT NULL DEFAULT now(),
    locked_until  timestamptz
);

-- A login on one device: a family of refresh tokens. Its id is the `sid` claim of every access
-- token issued in it, so revoking the session stops those access tokens too.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,     -- absolute: refreshing never extends a session past it
    revoked_at     timestamptz,
    revoke_reason  text
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Opaque refresh tokens, stored only as SHA-256 hashes; each is used once and replaced.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE password_resets (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- Push targets. A token belongs to one account at a time: registering it moves it.
CREATE TABLE devices (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fcm_token   text NOT NULL UNIQUE CHECK (length(fcm_token) BETWEEN 1 AND 4096),
    platform    device_platform NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_user ON devices (user_id);
CREATE TRIGGER devices_updated_at BEFORE UPDATE ON devices FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Machine clients (the IOC). The key is shown once; only its hash is kept.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    key_hash      bytea NOT NULL UNIQUE,
    prefix        text NOT NULL,          -- first characters, to recognise a key in listings
    role          user_role NOT NULL DEFAULT 'ioc' CHECK (role = 'ioc'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- Everything that leaves the process (email, push, IOC snapshots) is written here in the same
-- transaction as its cause and delivered by a worker with retries.
CREATE TABLE outbox (
    id               uuid PRIMARY KEY,      -- also the idempotency id receivers see
    kind             outbox_kind NOT NULL,
    payload          jsonb NOT NULL,
    status           outbox_status NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
