-- One row per validatePipeline run (written by activities/validation.ts,
-- recordValidationReport): when it ran, the snapshot LSN it compared at, the
-- counts, the differing keys, how long it took. Keyed by the workflow's
-- report key (workflow id / run id), so a retried write replaces its own row.
create table if not exists validation_reports (
  report_key             text        primary key,
  source_table           text        not null,
  target_table           text        not null,
  started_at             timestamptz not null,
  finished_at            timestamptz not null,
  duration_ms            integer     not null,
  -- agree: equal; mismatch: differing rows or columns; lag: ClickHouse had not caught up, nothing compared.
  outcome                text        not null check (outcome in ('agree', 'mismatch', 'lag')),
  snapshot_lsn           pg_lsn      not null,
  source_rows            bigint,
  target_rows            bigint,
  buckets                integer     not null,
  mismatched_buckets     integer     not null,
  missing                integer     not null,
  extra                  integer     not null,
  different              integer     not null,
  changed_after_snapshot integer     not null,
  truncated              boolean     not null,
  catch_up               jsonb       not null,
  -- The first keys of each kind of difference ({kind, key[], targetVersion?, deletedInTarget?}).
  samples                jsonb       not null,
  summary                text        not null,
  -- The whole report as the workflow returned it.
  report                 jsonb       not null
);

create index if not exists validation_reports_source_finished on validation_reports (source_table, finished_at desc);
