-- The publication the Debezium connector reads (publication.autocreate.mode=disabled).
-- Only the operational table in the public schema is published: tests run the
-- same migrations in throw-away schemas and must not add their tables to it.
do $$
begin
  if current_schema() <> 'public' then
    return;
  end if;
  if not exists (select 1 from pg_publication where pubname = '{{PUBLICATION}}') then
    create publication {{PUBLICATION}} for table public.astronauts;
  elsif not exists (
    select 1 from pg_publication_tables
    where pubname = '{{PUBLICATION}}' and schemaname = 'public' and tablename = 'astronauts'
  ) then
    alter publication {{PUBLICATION}} add table public.astronauts;
  end if;
  -- The replication role (created by the stack's Postgres setup, as superuser)
  -- needs to read the table for Debezium's initial snapshot.
  if exists (select 1 from pg_roles where rolname = '{{CDC_ROLE}}') then
    grant usage on schema public to {{CDC_ROLE}};
    grant select on public.astronauts to {{CDC_ROLE}};
  end if;
end
$$;
