-- TOTP recovery codes (sqlite dialect; the other declares the same table).
-- Single-use codes that stand in for a TOTP code at sign-in; only their
-- SHA-256 hashes are kept. used_at is set once, by
-- UPDATE .. WHERE used_at IS NULL.

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
