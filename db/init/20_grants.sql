-- Privileges in the astros database, shared by the native stack
-- (stack/components/postgres.ts) and docker-compose (docker/postgres/initdb/10-astros.sh).
-- Run as a superuser, connected to the astros database (or a table group's
-- source database), after 10_roles.sql and
-- after the database exists (created by each path with owner astros). Idempotent.

-- The database this runs in: the astros database, or a table group's own
-- source database (stack/components/postgres.ts prepareSourceDatabase).
do $grant$ begin execute format('grant connect on database %I to astros_cdc', current_database()); end $grant$;

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

-- Recovery makes the new slot itself, so it knows the exact position from
-- which changes stream again (the slot's consistent point: the end of the
-- capture gap it records); the connector then streams from that slot. Only a
-- pgoutput slot of this database, only when none of that name exists.
create or replace function public.astros_create_logical_slot(slot text) returns pg_lsn
  language plpgsql security definer set search_path = pg_catalog as $$
declare
  consistent pg_lsn;
begin
  select s.confirmed_flush_lsn into consistent from pg_replication_slots s where s.slot_name = slot and s.slot_type = 'logical' and s.database = current_database();
  if found then
    return consistent;
  end if;
  select r.lsn into consistent from pg_create_logical_replication_slot(slot, 'pgoutput') r;
  return consistent;
end
$$;
revoke all on function public.astros_create_logical_slot(text) from public;
grant execute on function public.astros_create_logical_slot(text) to astros;

-- After a failover the new primary's WAL position can be below changes the
-- pipeline captured from the old one (WAL it never received). Versions are
-- LSNs, so recovery moves the position past them first: each round writes a
-- small record and switches to the next WAL segment (at most 16 MB of LSN
-- per round, nothing of that written). Returns the position reached.
create or replace function public.astros_advance_wal(past pg_lsn) returns pg_lsn
  language plpgsql security definer set search_path = pg_catalog as $$
begin
  for i in 1..4096 loop
    exit when pg_current_wal_insert_lsn() > past;
    perform pg_logical_emit_message(false, 'astros', 'advance past ' || past::text);
    perform pg_switch_wal();
  end loop;
  return pg_current_wal_insert_lsn();
end
$$;
revoke all on function public.astros_advance_wal(pg_lsn) from public;
grant execute on function public.astros_advance_wal(pg_lsn) to astros;
