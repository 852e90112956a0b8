DROP TRIGGER clients_epoch ON clients;
DROP FUNCTION clients_new_epoch();
DROP TABLE cache_epochs;
