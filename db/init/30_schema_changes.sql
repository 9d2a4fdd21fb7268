-- Schema changes of captured tables are recorded by Postgres itself: event
-- triggers on ALTER TABLE write one row per captured table the command
-- touched into public.cdc_ddl_log (migration 170), in the DDL's transaction,
-- with the WAL position and the table's shape before and after. A captured
-- table renamed (RENAME TO, SET SCHEMA) or dropped (DROP TABLE, DROP SCHEMA
-- … CASCADE) is marked 'dropped' in public.captured_tables (migration 180)
-- in the same transaction, with a one-line reason. The pipeline follows a
-- table by its name: publication membership follows the table's OID, but
-- Debezium's table.include.list filters by name (it keeps passing a renamed
-- table's changes on under the old name only until its task restarts, then
-- drops them), and every object downstream is named after it. So it stops
-- there, and says so: writes must never go missing without a word.
-- In a table group's own source database (ASTROS_GROUP_DATABASES) the same
-- triggers follow the tables listed in public.cdc_source_tables (migration 210)
-- and log into that database's own cdc_ddl_log; a drop or rename marks the
-- table there, and the schema-change watch carries it to the catalog.
-- Only a superuser may create event triggers: the native stack
-- (stack/components/postgres.ts, at every `up`, in the pipeline's database and
-- each group database on its server) and docker-compose
-- (docker/postgres/initdb/10-astros.sh at the first start, the pg-init job at
-- every `up`) run this file as one, after 20_grants.sql. Idempotent. Until
-- the migrations have created the log and the catalog, the triggers do nothing.

-- A table's shape: columns by attnum (type, not null, default, and whether
-- rows written before the column existed read a stored constant), key,
-- identity; and its OID and qualified name (a rename keeps the one, not the other).
create or replace function public.astros_table_shape(t regclass) returns jsonb
  language sql stable set search_path = pg_catalog as $$
  select jsonb_build_object(
    'oid', t::oid, 'name', t::text,
    'columns', coalesce((
      select jsonb_agg(jsonb_build_object(
               'attnum', a.attnum, 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
               'notnull', a.attnotnull, 'default', pg_get_expr(d.adbin, d.adrelid), 'missing', a.atthasmissing)
             order by a.attnum)
        from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
       where a.attrelid = t and a.attnum > 0 and not a.attisdropped), '[]'::jsonb),
    'key', coalesce((
      select jsonb_agg(a.attname order by k.ord)
        from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
       where i.indrelid = t and i.indisprimary), '[]'::jsonb),
    'identity', (select relreplident::text from pg_class where oid = t))
$$;

-- The captured tables of this database: a table group reading another
-- source database (public.cdc_groups_elsewhere, migration 200) has its tables
-- there, and a table of the same schema.table here is another table. In such
-- a group's own database (no catalog), the tables its apply listed there.
create or replace function public.astros_captured_here() returns table (source text, state text)
  language plpgsql stable security definer set search_path = pg_catalog as $$
begin
  if to_regclass('public.captured_tables') is null then
    -- A group's own source database: the tables the apply listed here (migration 210).
    if to_regclass('public.cdc_source_tables') is not null then
      return query select s.source, case s.state when 'captured' then 'active' else s.state end from public.cdc_source_tables s;
    end if;
  elsif to_regclass('public.cdc_groups_elsewhere') is null then
    return query select c.source::text, c.state::text from public.captured_tables c;
  else
    return query select c.source::text, c.state::text from public.captured_tables c
      where not exists (select 1 from public.cdc_groups_elsewhere e where e.group_name = coalesce(c.declaration ->> 'group', 'default'));
  end if;
end
$$;

-- Before the command: the shapes of the captured tables, kept in a
-- transaction-local setting (no table is written, no DDL is run).
create or replace function public.astros_ddl_before() returns event_trigger
  language plpgsql security definer set search_path = pg_catalog as $$
begin
  if to_regclass('public.cdc_ddl_log') is null or coalesce(to_regclass('public.captured_tables'), to_regclass('public.cdc_source_tables')) is null then
    return;
  end if;
  perform set_config('astros.ddl_before', coalesce((
    select jsonb_object_agg(c.source, public.astros_table_shape(to_regclass(c.source)))
      from public.astros_captured_here() c
     where c.state not in ('removed', 'dropped') and to_regclass(c.source) is not null), '{}'::jsonb)::text, true);
exception when others then
  -- Never fail the user's DDL: the change is recorded without its before-shape (renames then read as drop + add).
  raise warning 'astros: shapes before % not recorded: %', tg_tag, sqlerrm;
end
$$;

-- A captured table is no longer found under its name: log it (refused, with the reason) and mark it
-- 'dropped', so `tables list`, the pipeline page and its alert say so; its pending changes are moot.
create or replace function public.astros_table_gone(src text, tag text, before jsonb, after jsonb, reason text) returns void
  language plpgsql security definer set search_path = pg_catalog as $$
begin
  update public.cdc_ddl_log set status = 'skipped', outcome = 'the table was dropped or renamed before this change was applied', applied_at = now()
   where source = src and status = 'pending';
  insert into public.cdc_ddl_log (source, command_tag, ddl, lsn, before, after, status, outcome, applied_at)
  values (src, tag, current_query(), pg_current_wal_insert_lsn(), before, coalesce(after, '{}'::jsonb), 'refused', reason, now());
  if to_regclass('public.captured_tables') is not null then
    update public.captured_tables set state = 'dropped', last_error = reason, updated_at = now() where source = src;
  else
    -- A group's own source database: the schema-change watch carries the mark to the catalog.
    update public.cdc_source_tables set state = 'dropped', last_error = reason, updated_at = now() where source = src;
  end if;
end
$$;
revoke all on function public.astros_table_gone(text, text, jsonb, jsonb, text) from public;

-- After the command: one log row per captured table it touched; a captured table it renamed is stopped.
create or replace function public.astros_ddl_after() returns event_trigger
  language plpgsql security definer set search_path = pg_catalog as $$
declare
  before jsonb;
  r record;
begin
  if to_regclass('public.cdc_ddl_log') is null or coalesce(to_regclass('public.captured_tables'), to_regclass('public.cdc_source_tables')) is null then
    return;
  end if;
  before := nullif(current_setting('astros.ddl_before', true), '')::jsonb;
  insert into public.cdc_ddl_log (source, command_tag, ddl, lsn, before, after)
  select c.source, tg_tag, current_query(), pg_current_wal_insert_lsn(), before -> c.source, public.astros_table_shape(t.rel)
    from (select distinct d.objid::regclass as rel
            from pg_event_trigger_ddl_commands() d
           where d.classid = 'pg_class'::regclass and d.object_type in ('table', 'table column')) t
    join public.astros_captured_here() c on c.state not in ('removed', 'dropped') and to_regclass(c.source) = t.rel;
  -- Renamed or moved to another schema: the table (its OID) was touched, its old name no longer finds it.
  for r in
    select c.source, t.rel
      from (select distinct d.objid::regclass as rel
              from pg_event_trigger_ddl_commands() d
             where d.classid = 'pg_class'::regclass and d.object_type = 'table') t
      join public.astros_captured_here() c on c.state not in ('removed', 'dropped')
       and (before -> c.source ->> 'oid')::oid = t.rel::oid and to_regclass(c.source) is distinct from t.rel
  loop
    perform public.astros_table_gone(r.source, tg_tag, before -> r.source, public.astros_table_shape(r.rel), format(
      '%s was renamed to %s in Postgres (at LSN %s): the pipeline follows a table by its name and no longer captures it '
      '(Debezium passes on changes made under the new name only until its task next restarts); its ClickHouse copy keeps what arrived. '
      'Fix: rename it back, then npm run tables -- add %s (reloads it); '
      'or capture it under its new name: npm run tables -- remove %s, then npm run tables -- add %s',
      r.source, r.rel::text, pg_current_wal_insert_lsn(), r.source, r.source, r.rel::text));
  end loop;
  perform set_config('astros.ddl_before', '', true);
exception when others then
  -- Never fail the user's DDL; the warning names what the pipeline will not apply by itself.
  raise warning 'astros: schema change not recorded for the pipeline (%): apply it with npm run resync after checking ClickHouse', sqlerrm;
end
$$;

-- A captured table dropped (DROP TABLE, or with its schema): stopped, with the reason.
create or replace function public.astros_ddl_drop() returns event_trigger
  language plpgsql security definer set search_path = pg_catalog as $$
declare
  r record;
begin
  if to_regclass('public.cdc_ddl_log') is null or coalesce(to_regclass('public.captured_tables'), to_regclass('public.cdc_source_tables')) is null then
    return;
  end if;
  for r in
    select distinct c.source
      from pg_event_trigger_dropped_objects() o
      join public.astros_captured_here() c on c.source = o.schema_name || '.' || o.object_name
     where o.object_type = 'table' and c.state not in ('removed', 'dropped')
  loop
    perform public.astros_table_gone(r.source, tg_tag, null, null, format(
      '%s was dropped in Postgres (%s at LSN %s): nothing more of it is captured; its ClickHouse copy keeps what arrived before. '
      'Forget it: npm run tables -- remove %s [--drop]; a table created again under that name: npm run tables -- add %s',
      r.source, tg_tag, pg_current_wal_insert_lsn(), r.source, r.source));
  end loop;
exception when others then
  raise warning 'astros: the drop of a captured table was not recorded for the pipeline (%): check npm run tables -- list', sqlerrm;
end
$$;

drop event trigger if exists astros_ddl_before;
create event trigger astros_ddl_before on ddl_command_start when tag in ('ALTER TABLE') execute function public.astros_ddl_before();
drop event trigger if exists astros_ddl_after;
create event trigger astros_ddl_after on ddl_command_end when tag in ('ALTER TABLE') execute function public.astros_ddl_after();
drop event trigger if exists astros_ddl_drop;
create event trigger astros_ddl_drop on sql_drop execute function public.astros_ddl_drop();
