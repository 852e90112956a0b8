ALTER TABLE browser_sessions DROP COLUMN user_agent;
ALTER TABLE sessions DROP COLUMN user_agent;
