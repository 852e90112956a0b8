-- Index only the access tokens that have a session or a user (SQLite dialect; the PostgreSQL one is the same).
-- Tokens of the client_credentials grant have neither, and every token
-- written costs the writer one b-tree insert per index: two of the seven an
-- opaque client_credentials token took went to the NULL end of these two
-- indexes, which no query reads (docs/performance.md, change 8). Every
-- lookup by session or user (revocation, the admin API, the cascades from
-- sessions and users) compares the column with "=", which implies IS NOT NULL,
-- so these partial indexes still serve it.
DROP INDEX access_tokens_session_id;
CREATE INDEX access_tokens_session_id ON access_tokens (session_id) WHERE session_id IS NOT NULL;
DROP INDEX access_tokens_user_id;
CREATE INDEX access_tokens_user_id ON access_tokens (user_id) WHERE user_id IS NOT NULL;
