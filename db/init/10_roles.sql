-- Roles of the astros database, shared by both ways to run the stack:
--   native stack    stack/components/postgres.ts (afterStart), as the superuser
--   docker-compose  docker/postgres/initdb/10-astros.sh, on the first start of an empty volume
--
-- Run as a superuser, connected to any database. Passwords are not in this file:
-- the caller sets them for the session first (both are required):
--   select set_config('astros.app_password', '<password of astros>', false);
--   select set_config('astros.cdc_password', '<password of astros_cdc>', false);
-- Idempotent: a role that exists is left as it is (its password is not reset).
--
--   astros      owns the tables and runs the migrations (the ingest worker, the CLIs)
--   astros_cdc  Debezium's login: REPLICATION to stream the WAL, read-only on the tables

do $roles$
begin
  if not exists (select 1 from pg_roles where rolname = 'astros') then
    execute format('create role astros login password %L', current_setting('astros.app_password'));
  end if;
  if not exists (select 1 from pg_roles where rolname = 'astros_cdc') then
    execute format('create role astros_cdc login replication password %L', current_setting('astros.cdc_password'));
  end if;
end
$roles$;
