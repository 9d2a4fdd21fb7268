-- Table groups reading another source database (ASTROS_GROUP_DATABASES):
-- their names, as the last apply of the catalog recorded them from the
-- configuration (connectors/postgres/sources.ts recordGroupsElsewhere). The
-- event triggers of this database (db/init/30_schema_changes.sql) follow the
-- captured tables by schema.table; a table of such a group is not in this
-- database, so a DDL here on a table of the same name must not touch it.
--
-- Only in the real (public) schema: tests migrate throw-away schemas too.
do $$
begin
  if current_schema() <> 'public' then
    return;
  end if;
  create table if not exists public.cdc_groups_elsewhere (
    group_name      text        primary key,
    source_database text        not null,
    recorded_at     timestamptz not null default now()
  );
end
$$;
