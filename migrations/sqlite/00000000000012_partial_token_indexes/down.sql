DROP INDEX access_tokens_session_id;
CREATE INDEX access_tokens_session_id ON access_tokens (session_id);
DROP INDEX access_tokens_user_id;
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);
