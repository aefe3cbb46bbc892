-- One database per service (each owned by its MikroORM migrations) and one for Dapr's state store
-- (components/statestore.yaml). Run by the postgres image on an empty data directory only;
-- deploy/test/compose.test.ts checks that it creates every database docker-compose.yml names.
CREATE DATABASE agora_users;
CREATE DATABASE agora_inventory;
CREATE DATABASE agora_orders;
CREATE DATABASE agora_payments;
CREATE DATABASE agora_dapr;
