-- Schema changes of captured tables, as Postgres made them: one row per
-- ALTER TABLE of a captured table, written by the event triggers the stack's
-- superuser installs (db/init/30_schema_changes.sql) in the DDL's own
-- transaction. `lsn` is the WAL insert position inside that transaction:
-- the ALTER holds the table's exclusive lock, so every change of the table
-- below it was written before the DDL and every one above it after. `before`
-- and `after` are the table's shape (columns by attnum, key, identity) on
-- each side of the command; the pipeline (workflows/schema-changes.ts)
-- applies the rows in order and records the outcome here.
--
-- Only in the real (public) schema: tests migrate throw-away schemas too.
do $$
begin
  if current_schema() <> 'public' then
    return;
  end if;
  create table if not exists public.cdc_ddl_log (
    id          bigserial   primary key,
    source      text        not null,
    command_tag text        not null,
    ddl         text        not null,
    lsn         pg_lsn      not null,
    before      jsonb,
    after       jsonb       not null,
    logged_at   timestamptz not null default now(),
    status      text        not null default 'pending' check (status in ('pending', 'applied', 'refused', 'skipped')),
    outcome     text,
    applied_at  timestamptz
  );
  create index if not exists cdc_ddl_log_pending on public.cdc_ddl_log (id) where status = 'pending';
end
$$;
