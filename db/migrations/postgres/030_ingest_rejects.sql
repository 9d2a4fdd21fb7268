-- Dead letters: records (or whole payloads) that failed validation, with the
-- reason and what was received. Nothing is dropped silently.
create table if not exists ingest_rejects (
  reject_id     bigint generated always as identity primary key,
  run_key       text        not null,
  -- Position in people[]; null when the payload as a whole was unusable.
  record_index  integer,
  reason        text        not null,
  -- The record exactly as received (per-record rejects).
  record        jsonb,
  -- The body as text, possibly truncated (whole-payload rejects: not JSON, wrong envelope).
  raw_text      text,
  raw_truncated boolean     not null default false,
  rejected_at   timestamptz not null default now(),
  check (record is not null or raw_text is not null)
);

-- One reject per record per run (NULLS NOT DISTINCT: also one whole-payload reject per run).
create unique index if not exists ingest_rejects_run_record on ingest_rejects (run_key, record_index) nulls not distinct;
