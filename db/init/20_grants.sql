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

-- Recovery from a lost replication slot (npm run recover) drops the dead slot
-- before the connector makes a new one. The app role may not use replication
-- slots; this function, owned by the superuser that runs this file, drops only
-- an inactive logical slot of this database, nothing else.
create or replace function public.astros_drop_inactive_slot(slot text) returns boolean
  language plpgsql security definer set search_path = pg_catalog as $$
begin
  if exists (select 1 from pg_replication_slots s where s.slot_name = slot and not s.active and s.slot_type = 'logical' and s.database = current_database()) then
    perform pg_drop_replication_slot(slot);
    return true;
  end if;
  return false;
end
$$;
revoke all on function public.astros_drop_inactive_slot(text) from public;
grant execute on function public.astros_drop_inactive_slot(text) to astros;
