-- A captured table that Postgres no longer has under its name: 'dropped'.
--
-- The event triggers the stack's superuser installs (db/init/30_schema_changes.sql)
-- set it, in the DDL's own transaction, when a captured table is dropped
-- (DROP TABLE, DROP SCHEMA … CASCADE) or renamed (ALTER TABLE … RENAME TO,
-- SET SCHEMA), with a one-line reason in last_error. Such a table is no longer
-- captured (not in the publication or the connector's list once the catalog
-- is applied again); its ClickHouse copy keeps what arrived before the DDL.
-- `astros tables add` captures it again (a full load), `tables remove` forgets it.
--
-- Only in the real (public) schema: tests migrate throw-away schemas too.
do $$
begin
  if current_schema() <> 'public' then
    return;
  end if;
  alter table public.captured_tables drop constraint if exists captured_tables_state_check;
  alter table public.captured_tables add constraint captured_tables_state_check
    check (state in ('active', 'adding', 'streaming', 'blocked', 'dropped', 'removed'));
end
$$;
