-- One-time JWT identifiers (SQLite dialect; the PostgreSQL one declares the same
-- columns): the `jti` of each private_key_jwt client assertion (RFC 7523
-- §3, item 7) and of each DPoP proof (RFC 9449 §11.1), so that a replay is
-- refused. key is the SHA-256 (hex) of what names the use (its purpose, its
-- issuer or key, and the jti), never the JWT itself; the first INSERT wins.
-- Kept until the JWT itself has expired (expires_at), after which a replay
-- is refused for its age anyway; the janitor deletes rows past expires_at.
CREATE TABLE used_jtis (
    key        TEXT NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
