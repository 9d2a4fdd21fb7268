-- The live catalog of captured tables: what the running pipeline follows.
--
-- Each row holds one table's declaration (the shape of catalog/tables.ts, as
-- JSON). Rows of origin 'repository' are written by `npm run setup` from
-- catalog/tables.ts (the file wins for those); rows a command or a test
-- declared on a running pipeline keep their origin and are left alone by that
-- sync. `npm run catalog -- export` prints every row in the file's shape.
-- Publication membership, the connector's table list and every ClickHouse
-- object are derived from the active rows (see catalog/README.md).
--
-- Only in the real (public) schema: tests migrate throw-away schemas too.
do $$
begin
  if current_schema() <> 'public' then
    return;
  end if;
  create table if not exists public.captured_tables (
    source      text        primary key check (source ~ '^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$'),
    declaration jsonb       not null,
    origin      text        not null check (origin in ('repository', 'command', 'test')),
    state       text        not null default 'active' check (state in ('active', 'removed')),
    declared_at timestamptz not null default now(),
    updated_at  timestamptz not null default now()
  );
end
$$;
