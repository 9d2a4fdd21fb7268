-- `astros tables add|remove` on a running pipeline (issue 15):
--
-- 1. The live catalog's states. 'active' stays what `npm run setup` writes for
--    the repository's (and the tests') tables; a table added by the command
--    goes through 'adding' (declared, being applied and snapshotted) to
--    'streaming' (its rows arrived and validation agreed), or 'blocked' when
--    that failed (last_error says why; `astros tables add` again resumes).
--    'removed' stops capture. Every state but 'removed' is captured.
--
-- 2. The signal table of the Debezium connector (signal.data.collection):
--    `tables add` inserts an execute-snapshot signal here to start an
--    incremental snapshot of the new table, and Debezium writes its snapshot
--    window watermarks into it. It must be in the publication (the connector
--    reads signals from the WAL) and writable by the CDC role.
--
-- Only in the real (public) schema: tests migrate throw-away schemas too.
do $$
begin
  if current_schema() <> 'public' then
    return;
  end if;
  alter table public.captured_tables drop constraint if exists captured_tables_state_check;
  alter table public.captured_tables add constraint captured_tables_state_check
    check (state in ('active', 'adding', 'streaming', 'blocked', 'removed'));
  alter table public.captured_tables add column if not exists last_error text;

  create table if not exists public.cdc_signal (
    id   varchar(64)   primary key,
    type varchar(32)   not null,
    data varchar(4096)
  );
  if not exists (
    select 1 from pg_publication_tables
    where pubname = '{{PUBLICATION}}' and schemaname = 'public' and tablename = 'cdc_signal'
  ) then
    alter publication {{PUBLICATION}} add table public.cdc_signal;
  end if;
  if exists (select 1 from pg_roles where rolname = '{{CDC_ROLE}}') then
    grant select, insert, update, delete on public.cdc_signal to {{CDC_ROLE}};
  end if;
end
$$;
