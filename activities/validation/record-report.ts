/** recordValidationReport: one row per validatePipeline run in `validation_reports`. */
import type pg from 'pg';
import type { ValidationReport } from '../../shared/validation.ts';

/** Idempotent per report key: a retried activity overwrites the row it wrote before. */
export async function recordValidationReport(pool: pg.Pool, report: ValidationReport): Promise<{ reportKey: string }> {
  await pool.query(
    `insert into validation_reports (
       report_key, source_table, target_table, started_at, finished_at, duration_ms, outcome,
       snapshot_lsn, source_rows, target_rows, buckets, mismatched_buckets, missing, extra, different,
       changed_after_snapshot, truncated, catch_up, samples, summary, report)
     values ($1, $2, $3, $4, $5, $6, $7, $8::pg_lsn, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
     on conflict (report_key) do update set
       source_table = excluded.source_table, target_table = excluded.target_table,
       started_at = excluded.started_at, finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
       outcome = excluded.outcome, snapshot_lsn = excluded.snapshot_lsn, source_rows = excluded.source_rows,
       target_rows = excluded.target_rows, buckets = excluded.buckets, mismatched_buckets = excluded.mismatched_buckets,
       missing = excluded.missing, extra = excluded.extra, different = excluded.different,
       changed_after_snapshot = excluded.changed_after_snapshot, truncated = excluded.truncated,
       catch_up = excluded.catch_up, samples = excluded.samples, summary = excluded.summary, report = excluded.report`,
    [
      report.reportKey, report.source, report.target, report.startedAt, report.finishedAt, report.durationMs, report.outcome,
      report.snapshotLsn, report.sourceRows, report.targetRows, report.buckets, report.mismatchedBuckets, report.missing,
      report.extra, report.different, report.changedAfterSnapshot, report.truncated, JSON.stringify(report.catchUp),
      JSON.stringify(report.samples), report.summary, JSON.stringify(report),
    ],
  );
  return { reportKey: report.reportKey };
}
