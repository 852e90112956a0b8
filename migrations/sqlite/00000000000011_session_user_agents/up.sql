-- The device or software each session started from (SQLite dialect; the PostgreSQL one declares the same columns):
-- the User-Agent header, without control characters, at most 200
-- characters. Shown to the user on /account/sessions and to admins.
-- NULL: not sent, or the session started before this migration.

ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE browser_sessions ADD COLUMN user_agent TEXT;
