DROP TABLE initial_access_tokens;
