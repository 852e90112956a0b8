-- The clients' cache epoch (SQLite dialect; the PostgreSQL one keeps the
-- same table with a trigger function). Every row of clients inserted,
-- updated or deleted, by any process or node, sets a new random epoch in
-- the same transaction. A server keeps parsed client records in
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
CREATE TRIGGER clients_epoch_update AFTER UPDATE ON clients
BEGIN
    UPDATE cache_epochs SET epoch = random() WHERE name = 'clients';
END;
CREATE TRIGGER clients_epoch_delete AFTER DELETE ON clients
BEGIN
    UPDATE cache_epochs SET epoch = random() WHERE name = 'clients';
END;
