-- Schema changes of captured tables are recorded by Postgres itself: event
-- triggers on ALTER TABLE write one row per captured table the command
-- touched into public.cdc_ddl_log (migration 170), in the DDL's transaction,
-- with the WAL position and the table's shape before and after. Only a
-- superuser may create event triggers: the native stack
-- (stack/components/postgres.ts) and docker-compose
-- (docker/postgres/initdb/10-astros.sh) run this file as one, after
-- 20_grants.sql. Idempotent. Until the migrations have created the log and
-- the catalog, the triggers do nothing.

-- A table's shape: columns by attnum (type, not null, default, and whether
-- rows written before the column existed read a stored constant), key, identity.
create or replace function public.astros_table_shape(t regclass) returns jsonb
  language sql stable set search_path = pg_catalog as $$
  select jsonb_build_object(
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

-- Before the command: the shapes of the captured tables, kept in a
-- transaction-local setting (no table is written, no DDL is run).
create or replace function public.astros_ddl_before() returns event_trigger
  language plpgsql security definer set search_path = pg_catalog as $$
begin
  if to_regclass('public.cdc_ddl_log') is null or to_regclass('public.captured_tables') is null then
    return;
  end if;
  perform set_config('astros.ddl_before', coalesce((
    select jsonb_object_agg(c.source, public.astros_table_shape(to_regclass(c.source)))
      from public.captured_tables c
     where c.state <> 'removed' and to_regclass(c.source) is not null), '{}'::jsonb)::text, true);
exception when others then
  -- Never fail the user's DDL: the change is recorded without its before-shape (renames then read as drop + add).
  raise warning 'astros: shapes before % not recorded: %', tg_tag, sqlerrm;
end
$$;

-- After the command: one log row per captured table it touched.
create or replace function public.astros_ddl_after() returns event_trigger
  language plpgsql security definer set search_path = pg_catalog as $$
declare
  before jsonb;
begin
  if to_regclass('public.cdc_ddl_log') is null or to_regclass('public.captured_tables') is null then
    return;
  end if;
  before := nullif(current_setting('astros.ddl_before', true), '')::jsonb;
  insert into public.cdc_ddl_log (source, command_tag, ddl, lsn, before, after)
  select c.source, tg_tag, current_query(), pg_current_wal_insert_lsn(), before -> c.source, public.astros_table_shape(t.rel)
    from (select distinct d.objid::regclass as rel
            from pg_event_trigger_ddl_commands() d
           where d.classid = 'pg_class'::regclass and d.object_type in ('table', 'table column')) t
    join public.captured_tables c on c.state <> 'removed' and to_regclass(c.source) = t.rel;
  perform set_config('astros.ddl_before', '', true);
exception when others then
  -- Never fail the user's DDL; the warning names what the pipeline will not apply by itself.
  raise warning 'astros: schema change not recorded for the pipeline (%): apply it with npm run resync after checking ClickHouse', sqlerrm;
end
$$;

drop event trigger if exists astros_ddl_before;
create event trigger astros_ddl_before on ddl_command_start when tag in ('ALTER TABLE') execute function public.astros_ddl_before();
drop event trigger if exists astros_ddl_after;
create event trigger astros_ddl_after on ddl_command_end when tag in ('ALTER TABLE') execute function public.astros_ddl_after();
