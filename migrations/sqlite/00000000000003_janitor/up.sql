-- Housekeeping (sqlite dialect; the other dialect declares the same columns).
-- clients.last_used_at: when the client last received a token (kept to the
-- hour), so the janitor can remove dynamic clients nobody uses. The indexes
-- let the janitor find what to delete without scanning whole tables.

ALTER TABLE clients ADD COLUMN last_used_at BIGINT;
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);
CREATE INDEX browser_sessions_expires_at ON browser_sessions (expires_at);
CREATE INDEX browser_sessions_revoked_at ON browser_sessions (revoked_at);
CREATE INDEX login_attempts_window_start ON login_attempts (window_start);
CREATE INDEX clients_registration_token_hash ON clients (registration_token_hash);
