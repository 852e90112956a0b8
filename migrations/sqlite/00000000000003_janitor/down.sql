DROP INDEX clients_registration_token_hash;
DROP INDEX login_attempts_window_start;
DROP INDEX browser_sessions_revoked_at;
DROP INDEX browser_sessions_expires_at;
DROP INDEX sessions_revoked_at;
DROP INDEX sessions_expires_at;
ALTER TABLE clients DROP COLUMN last_used_at;
