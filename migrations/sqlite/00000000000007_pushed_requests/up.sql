-- Pushed authorization requests, RFC 9126 (SQLite dialect; the PostgreSQL one declares
-- the same columns). Kept under the SHA-256 hash of the request_uri's random
-- part; params is the authorization request as JSON pairs (never the
-- client's credentials). used_at makes the first use at the authorization
-- endpoint single use (one statement, only while unused and unexpired).
-- The janitor deletes rows an hour past expires_at (the flow that used one
-- reads it again at each sign-in step).
CREATE TABLE pushed_requests (
    uri_hash   TEXT NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX pushed_requests_client_id ON pushed_requests (client_id);
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);
