-- Privileges in the astros database, shared by the native stack
-- (stack/components/postgres.ts) and docker-compose (docker/postgres/initdb/10-astros.sh).
-- Run as a superuser, connected to the astros database, after 10_roles.sql and
-- after the database exists (created by each path with owner astros). Idempotent.

grant connect on database astros to astros_cdc;

-- The app role creates its tables in public; Debezium reads whatever it creates:
-- default privileges make every new table of astros readable by astros_cdc.
grant usage on schema public to astros_cdc;
grant create on schema public to astros;
alter default privileges for role astros in schema public grant select on tables to astros_cdc;
