-- Passkeys (sqlite dialect; the other declares the same tables).
-- passkeys: a user's WebAuthn credentials. credential is the relying-party
-- library's record (public key, signature counter) as JSON; credential_id
-- (base64url) is unique across users, for a sign-in that names no user.
-- A ceremony's challenge, once answered, is kept among the used one-time
-- identifiers (used_jtis, migration 8) until it expires, so each ceremony is
-- accepted once.

CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    credential    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);
