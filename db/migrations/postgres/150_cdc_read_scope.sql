-- The CDC role ({{CDC_ROLE}}) reads only the tables it captures (issue 22).
-- Earlier stacks made every new table of astros readable by it through a
-- default privilege (db/init/20_grants.sql no longer does): take back SELECT
-- on the tables that are not in the publication (the ingest's bookkeeping,
-- dead letters, staged payloads, reports, the catalog). Captured tables and
-- the heartbeat table are in the publication and keep their grants; tables
-- captured later get SELECT from the catalog's setup.
do $$
declare
  t record;
begin
  if current_schema() <> 'public' or not exists (select 1 from pg_roles where rolname = '{{CDC_ROLE}}') then
    return;
  end if;
  for t in
    select c.relname
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')
      and not exists (select 1 from pg_publication_tables p where p.schemaname = 'public' and p.tablename = c.relname)
  loop
    execute format('revoke all on public.%I from {{CDC_ROLE}}', t.relname);
  end loop;
end
$$;
