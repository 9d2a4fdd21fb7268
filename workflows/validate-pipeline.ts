/**
 * validatePipeline: prove that a captured Postgres table and its ClickHouse
 * copy agree at one consistent point (a Postgres snapshot and its LSN):
 * counts and value-level checksums, with the differing keys named. The work
 * is done by activities/validation/ (see there for the LSN and checksum
 * design); this workflow orders it, records the report and decides the outcome:
 *  - agree:    completes with the report;
 *  - lag:      ClickHouse did not catch up within the bound; completes with
 *              the report (outcome 'lag'), or fails with ReplicationLag when
 *              input.failOnLag is set. Lag is never reported as a mismatch;
 *  - mismatch: fails, non-retryable, type ValidationMismatch, with the
 *              readable summary as message and the report as details.
 * Deterministic code only. With no input it validates the table
 * ingestAstronauts writes; the spec of a captured table comes from the catalog
 * (resolved inside the compareTable activity, so this workflow's history is
 * the same as before tables came from the catalog).
 */
import { ApplicationFailure, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../shared/errors.ts';
import type { ValidationReport, ValidationSpec } from '../shared/validation.ts';
import { INGEST_TABLE } from '../shared/workflows.ts';

export interface ValidatePipelineInput {
  /** A captured table (`schema.table`); its spec comes from the catalog. Default: the table ingestAstronauts writes. */
  table?: string;
  /** What to compare, when it is not a captured table (or not as the catalog derives it). */
  spec?: ValidationSpec;
  /** Fail (type ReplicationLag) instead of completing when ClickHouse has not caught up. */
  failOnLag?: boolean;
  /** One ClickHouse replica of the set (ch1, ch2, ...); default: the worker's CLICKHOUSE_URL. */
  replica?: string;
}

/** Longest catch-up wait plus the comparison itself. */
const COMPARE_OVERHEAD_MS = 120_000;

const { compareTable } = proxyActivities<IngestActivities>({
  // The activity heartbeats while waiting and between phases; the start-to-close bound covers the longest wait.
  startToCloseTimeout: 10 * 60_000,
  heartbeatTimeout: 60_000,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3, nonRetryableErrorTypes },
});

const { recordValidationReport } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 30_000,
  retry: { initialInterval: '1s', maximumAttempts: 5, nonRetryableErrorTypes },
});

export async function validatePipeline(input: ValidatePipelineInput = {}): Promise<ValidationReport> {
  const info = workflowInfo();
  if ((input.spec?.maxWaitMs ?? 60_000) + COMPARE_OVERHEAD_MS > 10 * 60_000) {
    throw ApplicationFailure.create({ type: IngestErrorType.InvalidInput, nonRetryable: true, message: 'spec.maxWaitMs must be at most 8 minutes' });
  }
  const report = await compareTable({
    ...(input.spec ? { spec: input.spec } : { table: input.table ?? INGEST_TABLE }),
    reportKey: `${info.workflowId}/${info.runId}`,
    ...(input.replica ? { replica: input.replica } : {}),
  });
  await recordValidationReport(report);

  if (report.outcome === 'mismatch') {
    throw ApplicationFailure.create({ type: IngestErrorType.ValidationMismatch, nonRetryable: true, message: report.summary, details: [report] });
  }
  if (report.outcome === 'lag') {
    log.warn('ClickHouse has not caught up: nothing compared', { detail: report.catchUp.detail });
    if (input.failOnLag) {
      throw ApplicationFailure.create({ type: IngestErrorType.ReplicationLag, nonRetryable: true, message: report.summary, details: [report] });
    }
  } else {
    log.info('Postgres and ClickHouse agree', { summary: report.summary });
  }
  return report;
}
