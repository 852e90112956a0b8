DROP TRIGGER clients_epoch_delete;
DROP TRIGGER clients_epoch_update;
DROP TRIGGER clients_epoch_insert;
DROP TABLE cache_epochs;
