-- A table group's own source database (ASTROS_GROUP_DATABASES) has no
-- catalog: the captured tables of the groups reading it are listed here, by
-- name, as the last apply of the catalog wrote them (activities/apply-catalog.ts
-- syncPublication). This database's event triggers (db/init/30_schema_changes.sql)
-- follow these tables as the pipeline database's follow its catalog: an
-- ALTER TABLE is logged in this database's cdc_ddl_log (migration 170), a
-- table dropped or renamed is marked 'dropped' here with the reason, which the
-- schema-change watch carries to the catalog (activities/schema-change-sources.ts).
--
-- Made only where there is no catalog (the pipeline's own database reads
-- public.captured_tables), and only in the real (public) schema.
do $$
begin
  if current_schema() <> 'public' or to_regclass('public.captured_tables') is not null then
    return;
  end if;
  create table if not exists public.cdc_source_tables (
    source     text        primary key,
    group_name text        not null,
    state      text        not null default 'captured' check (state in ('captured', 'dropped')),
    last_error text,
    updated_at timestamptz not null default now()
  );
end
$$;
