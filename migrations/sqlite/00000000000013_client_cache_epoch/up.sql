-- The clients' cache epoch (SQLite dialect; the PostgreSQL one keeps the
-- same table with a trigger function). Every row of clients inserted,
-- updated (any column but last_used_at) or deleted, by any process or
-- node, sets a new random epoch in the same transaction. A server keeps parsed client records in
-- memory under the epoch they were read at and uses one only while the
-- epoch it reads in its own transaction is the same: one small read instead
-- of the client's row (docs/performance.md, change 11). Random, not a
-- counter: an epoch of a change that rolled back never comes back.
CREATE TABLE cache_epochs (
    name  TEXT NOT NULL PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO cache_epochs (name, epoch) VALUES ('clients', random());

CREATE TRIGGER clients_epoch_insert AFTER INSERT ON clients
BEGIN
    UPDATE cache_epochs SET epoch = random() WHERE name = 'clients';
END;
-- Every column but last_used_at, which a grant writes once an hour per
-- client and no cached record holds (a test checks each column is here).
CREATE TRIGGER clients_epoch_update AFTER UPDATE OF
    id,
    secret_hash,
    name,
    auth_method,
    redirect_uris,
    post_logout_redirect_uris,
    grant_types,
    response_types,
    scope,
    access_token_format,
    signing_alg,
    application_type,
    metadata,
    registration_token_hash,
    is_resource_server,
    first_party,
    disabled,
    created_at,
    updated_at,
    secret_expires_at
ON clients
BEGIN
    UPDATE cache_epochs SET epoch = random() WHERE name = 'clients';
END;
CREATE TRIGGER clients_epoch_delete AFTER DELETE ON clients
BEGIN
    UPDATE cache_epochs SET epoch = random() WHERE name = 'clients';
END;
