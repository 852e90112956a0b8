-- DPoP key binding (PostgreSQL dialect; the SQLite one declares the same
-- columns). RFC 9449: dpop_jkt is the RFC 7638 thumbprint of the key a
-- token is bound to. An access token bound to a key (§6: a JWT also carries
-- it as cnf.jkt) is good only with a proof by that key; a public client's
-- refresh token is bound to the key of the proof it was issued with (§5).
-- An authorization code requested with dpop_jkt (§10) can only be exchanged
-- with a proof by that key.
-- NULL: not bound (tokens issued before this migration are not).

ALTER TABLE access_tokens ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
