-- Portcullis initial schema (SQLite dialect).
-- Conventions shared with the PostgreSQL migrations: ids and hashes are TEXT,
-- times are BIGINT Unix seconds, flags BOOLEAN, lists TEXT holding a JSON
-- array, scopes TEXT (space-joined canonical form).
-- crates/storage/src/schema.rs mirrors this file; a test checks it.

CREATE TABLE clients (
    id                        TEXT NOT NULL PRIMARY KEY,
    secret_hash               TEXT,
    name                      TEXT NOT NULL,
    auth_method               TEXT NOT NULL,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types               TEXT NOT NULL,
    response_types            TEXT NOT NULL,
    scope                     TEXT NOT NULL,
    access_token_format       TEXT NOT NULL,
    signing_alg               TEXT NOT NULL,
    application_type          TEXT NOT NULL,
    metadata                  TEXT NOT NULL,
    registration_token_hash   TEXT,
    is_resource_server        BOOLEAN NOT NULL,
    first_party               BOOLEAN NOT NULL,
    disabled                  BOOLEAN NOT NULL,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL,
    secret_expires_at         BIGINT NOT NULL
);

CREATE TABLE users (
    id             TEXT NOT NULL PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT,
    email_verified BOOLEAN NOT NULL,
    password_hash  TEXT,
    is_admin       BOOLEAN NOT NULL,
    disabled       BOOLEAN NOT NULL,
    totp_secret    TEXT,
    totp_last_step BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid          TEXT NOT NULL PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_key  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retires_at   BIGINT
);

CREATE TABLE sessions (
    id           TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    auth_time    BIGINT NOT NULL,
    amr          TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_client_id ON sessions (client_id);

CREATE TABLE browser_sessions (
    id_hash      TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    BIGINT NOT NULL,
    amr          TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX browser_sessions_user_id ON browser_sessions (user_id);

-- browser_session_id has no foreign key: a code outlives the browser
-- session that approved it only by minutes, and pruning must not cascade.
CREATE TABLE authorization_codes (
    code_hash             TEXT NOT NULL PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser_session_id    TEXT,
    session_id            TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    resource              TEXT NOT NULL,
    nonce                 TEXT,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    auth_time             BIGINT NOT NULL,
    amr                   TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    consumed_at           BIGINT
);
CREATE INDEX authorization_codes_client_id ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id ON authorization_codes (user_id);
CREATE INDEX authorization_codes_session_id ON authorization_codes (session_id);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

CREATE TABLE access_tokens (
    jti        TEXT NOT NULL PRIMARY KEY,
    token_hash TEXT UNIQUE,
    format     TEXT NOT NULL,
    session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    audience   TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_session_id ON access_tokens (session_id);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

-- parent_hash has no foreign key: the parent may be pruned first.
CREATE TABLE refresh_tokens (
    token_hash  TEXT NOT NULL PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    audience    TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT,
    revoked_at  BIGINT,
    parent_hash TEXT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

CREATE TABLE personal_access_tokens (
    id           TEXT NOT NULL PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    client_id    TEXT REFERENCES clients (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    disabled     BOOLEAN NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX personal_access_tokens_user_id ON personal_access_tokens (user_id);
CREATE INDEX personal_access_tokens_client_id ON personal_access_tokens (client_id);

-- No foreign keys: the audit trail outlives the rows it mentions.
CREATE TABLE audit_events (
    id         TEXT NOT NULL PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    client_id  TEXT,
    session_id TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user_id ON audit_events (user_id);
CREATE INDEX audit_events_client_id ON audit_events (client_id);

CREATE TABLE server_secrets (
    name       TEXT NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- For the login throttle (no store trait yet).
CREATE TABLE login_attempts (
    "key"         TEXT NOT NULL PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  BIGINT NOT NULL,
    blocked_until BIGINT
);
