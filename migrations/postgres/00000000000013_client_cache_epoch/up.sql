-- The clients' cache epoch (PostgreSQL dialect; the SQLite one keeps the
-- same table with three triggers). Every row of clients inserted, updated
-- or deleted, by any node or process, sets a new random epoch in the same
-- transaction (a row trigger: an UPDATE that matches no row, like most of
-- the grants' "last used" updates, changes nothing). A server keeps parsed
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
CREATE TRIGGER clients_epoch AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION clients_new_epoch();
