-- Resource indicators on refresh tokens (PostgreSQL dialect; the SQLite one
-- declares the same column). RFC 8707 §2.2: a refresh token remembers the
-- resources its grant authorized, as a JSON array of strings, so that a
-- refresh may narrow the audience of the new access token but never widen it.
-- Refresh tokens issued before this migration authorized none.

ALTER TABLE refresh_tokens ADD COLUMN resource TEXT NOT NULL DEFAULT '[]';
