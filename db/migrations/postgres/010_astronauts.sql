-- The operational table captured by CDC (Debezium, publication {{PUBLICATION}}).
--
-- Key: person_key is derived from the normalised name (accents removed, lower
-- case, single spaces; see activities/transform.ts). It is stable across
-- fetches and craft changes, so every change of a person is an INSERT, UPDATE
-- or DELETE of the same key, which is what CDC consumers key on.
--
-- Departures are DELETEs (see activities/postgres.ts): a Debezium delete event
-- that ClickHouse's current-state table marks deleted and the SCD2 mart uses
-- to close the person's row; a return is a new INSERT of the same key.
create table if not exists astronauts (
  person_key     text        primary key check (person_key <> '' and length(person_key) <= 200),
  name           text        not null check (name <> ''),
  craft          text        not null check (craft <> ''),
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  -- ingest_runs.run_key of the run that last inserted or changed this row (lineage).
  updated_by_run text        not null
);

-- REPLICA IDENTITY FULL: the WAL carries the whole old row for UPDATE and
-- DELETE. With DEFAULT a delete event carries only the key, so downstream the
-- departure row would have an empty name and craft; with FULL the delete event
-- and the update's before-image carry the previous craft, which the changelog
-- and the SCD2 mart use. The table is small and written once per fetch, so the
-- extra WAL is negligible. (Setting it is idempotent.)
alter table astronauts replica identity full;
