-- Device authorizations, RFC 8628 (SQLite dialect; the PostgreSQL one declares
-- the same columns). Both codes are kept only as SHA-256 hashes. A row is
-- pending until approved_at or denied_at is set (one statement, only while
-- undecided and unexpired); consumed_at makes the exchange single use.
-- The janitor deletes rows past expires_at.
CREATE TABLE device_codes (
    device_code_hash TEXT NOT NULL PRIMARY KEY,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    resource         TEXT NOT NULL,
    poll_interval    BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    last_polled_at   BIGINT,
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    auth_time        BIGINT,
    amr              TEXT NOT NULL,
    approved_at      BIGINT,
    denied_at        BIGINT,
    consumed_at      BIGINT
);
CREATE INDEX device_codes_client_id ON device_codes (client_id);
CREATE INDEX device_codes_user_id ON device_codes (user_id);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);
