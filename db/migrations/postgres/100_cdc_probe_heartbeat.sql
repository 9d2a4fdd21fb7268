-- Two more tables for the CDC path (issue 4):
--
-- cdc_types_probe: the pipeline's self-test table. test/integration/cdc.test.ts
-- writes unique keys here to prove types (timestamptz with microseconds,
-- numeric(38,18), unconstrained numeric, NULL vs '', non-ASCII) and TOAST
-- (payload > 2 kB stored out of line) arrive in ClickHouse exactly
-- (astros.cdc_types_probe, clickhouse-ddl/020_cdc_types_probe.sql).
--
-- REPLICA IDENTITY FULL: an UPDATE that leaves a TOASTed column unchanged
-- carries only an "unchanged toast" marker for it in the new tuple; with
-- DEFAULT, Debezium then emits the placeholder `__debezium_unavailable_value`
-- and the current state would be overwritten with it. With FULL, Postgres logs
-- the whole old row (TOASTed values included) and Debezium fills the unchanged
-- column from it, so every event carries the real value.
create table if not exists cdc_types_probe (
  probe_key   text        primary key,
  label       text,
  counter     integer     not null default 0,
  happened_at timestamptz,
  amount      numeric(38, 18),
  big_number  numeric,
  payload     text
);

alter table cdc_types_probe replica identity full;

-- cdc_heartbeat: the connector's heartbeat.action.query writes here every
-- heartbeat.interval.ms. The table is in the publication (not in the
-- connector's table.include.list, so it has no topic): the change reaches
-- Debezium, which can then confirm a recent LSN to the slot even when the
-- captured tables are idle while other tables in the database produce WAL.
-- Without it the slot's confirmed_flush_lsn stays behind and Postgres keeps
-- that WAL (see `npm run lag`).
create table if not exists cdc_heartbeat (
  id       integer     primary key check (id = 1),
  beat_at  timestamptz not null default now()
);

insert into cdc_heartbeat (id) values (1) on conflict (id) do nothing;

-- Publication and grants only in the real (public) schema; tests run the same
-- migrations in throw-away schemas and must not publish their tables.
do $$
begin
  if current_schema() <> 'public' then
    return;
  end if;
  if not exists (
    select 1 from pg_publication_tables
    where pubname = '{{PUBLICATION}}' and schemaname = 'public' and tablename = 'cdc_types_probe'
  ) then
    alter publication {{PUBLICATION}} add table public.cdc_types_probe;
  end if;
  if not exists (
    select 1 from pg_publication_tables
    where pubname = '{{PUBLICATION}}' and schemaname = 'public' and tablename = 'cdc_heartbeat'
  ) then
    alter publication {{PUBLICATION}} add table public.cdc_heartbeat;
  end if;
  if exists (select 1 from pg_roles where rolname = '{{CDC_ROLE}}') then
    grant select on public.cdc_types_probe to {{CDC_ROLE}};
    grant select, insert, update on public.cdc_heartbeat to {{CDC_ROLE}};
  end if;
end
$$;
