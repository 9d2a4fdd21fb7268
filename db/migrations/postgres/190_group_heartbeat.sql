-- Table groups: every group but the default one has its own publication,
-- replication slot and Debezium connector (shared/names.ts groupNames). Each
-- group's connector writes its own row here with its heartbeat.action.query,
-- and the table is in each such group's publication: the write reaches that
-- group's connector, which then confirms a recent LSN to its slot even when
-- its tables are idle while other tables produce WAL (what cdc_heartbeat
-- does for the default group, which keeps it: its connector is unchanged).
-- The lag report reads each group's row.
--
-- Only in the real (public) schema: tests migrate throw-away schemas too.
do $$
begin
  if current_schema() <> 'public' then
    return;
  end if;
  create table if not exists public.cdc_group_heartbeat (
    group_name text        primary key,
    beat_at    timestamptz not null default now()
  );
  if exists (select 1 from pg_roles where rolname = '{{CDC_ROLE}}') then
    grant select, insert, update on public.cdc_group_heartbeat to {{CDC_ROLE}};
  end if;
end
$$;
