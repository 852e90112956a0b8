-- The clients' cache epoch (PostgreSQL dialect; the SQLite one keeps the
-- same table with three triggers). Every row of clients inserted, updated
-- (any column but last_used_at) or deleted, by any node or process, sets a
-- new random epoch in the same transaction (a row trigger: an UPDATE that
-- matches no row changes nothing). A server keeps parsed
-- client records in memory under the epoch they were read at and uses one
-- only while the epoch it reads in its own transaction is the same: one
-- small read instead of the client's row (docs/performance.md, change 11).
-- Random, not a counter: an epoch of a change that rolled back never comes
-- back.
CREATE TABLE cache_epochs (
    name  TEXT NOT NULL PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO cache_epochs (name, epoch)
    VALUES ('clients', floor((random() - 0.5) * 1.8e19)::bigint);

CREATE FUNCTION clients_new_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_epochs SET epoch = floor((random() - 0.5) * 1.8e19)::bigint
        WHERE name = 'clients';
    RETURN NULL;
END
$$;
-- Updates of every column but last_used_at, which a grant writes once an
-- hour per client and no cached record holds (a test checks each column is
-- here); without it, those writes would also queue on the epoch row.
CREATE TRIGGER clients_epoch AFTER INSERT OR DELETE OR UPDATE OF
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
    ON clients FOR EACH ROW EXECUTE FUNCTION clients_new_epoch();
