-- Privileges in the astros database, shared by the native stack
-- (stack/components/postgres.ts) and docker-compose (docker/postgres/initdb/10-astros.sh).
-- Run as a superuser, connected to the astros database, after 10_roles.sql and
-- after the database exists (created by each path with owner astros). Idempotent.

grant connect on database astros to astros_cdc;

-- The app role creates its tables in public. The CDC role reads only what it
-- captures: SELECT is granted per captured table by the catalog's setup
-- (catalog/publication.ts), so no default privilege; an older stack's default
-- grant is withdrawn (db/migrations/postgres/130 revokes what it granted).
grant usage on schema public to astros_cdc;
grant create on schema public to astros;
alter default privileges for role astros in schema public revoke select on tables from astros_cdc;
