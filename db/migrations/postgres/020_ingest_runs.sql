-- One row per applied (or refused-as-stale) ingest run. The key makes the
-- upsert idempotent: a run key already here is never applied again.
create table if not exists ingest_runs (
  run_key          text        primary key,
  workflow_id      text        not null,
  workflow_run_id  text        not null,
  payload_id       text        not null,
  source_url       text        not null,
  fetched_at       timestamptz not null,
  applied_at       timestamptz not null default now(),
  -- applied: the snapshot was written; stale: a newer fetch had already been applied, nothing written.
  status           text        not null check (status in ('applied', 'stale')),
  http_attempts    integer     not null,
  declared_number  integer     not null,
  fetched          integer     not null,
  number_mismatch  boolean     not null,
  inserted         integer     not null,
  updated          integer     not null,
  unchanged        integer     not null,
  departed         integer     not null,
  returned         integer     not null,
  rejected         integer     not null,
  duplicates       integer     not null
);

create index if not exists ingest_runs_applied_fetched_at on ingest_runs (fetched_at desc) where status = 'applied';
