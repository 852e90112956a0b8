-- Dynamic client registration (PostgreSQL dialect; the other dialect declares the
-- same columns). Initial access tokens (RFC 7591 §3) for
-- registration.policy = "token", minted by `portcullis registration-token
-- create` and kept only as SHA-256 hashes. Self-registered clients live in
-- `clients` with "dynamic": true in their metadata and the hash of their
-- RFC 7592 registration access token in registration_token_hash.

CREATE TABLE initial_access_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    max_uses   BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0
);
