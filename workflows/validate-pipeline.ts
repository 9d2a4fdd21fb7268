/**
 * validatePipeline: prove that a captured Postgres table and its ClickHouse
 * copy agree at one consistent point (a Postgres snapshot and its LSN):
 * counts and value-level checksums, with the differing keys named. The work
 * is done by activities/validation.ts (see there for the LSN and checksum
 * design); this workflow orders it, records the report and decides the outcome:
 *  - agree:    completes with the report;
 *  - lag:      ClickHouse did not catch up within the bound; completes with
 *              the report (outcome 'lag'), or fails with ReplicationLag when
 *              input.failOnLag is set. Lag is never reported as a mismatch;
 *  - mismatch: fails, non-retryable, type ValidationMismatch, with the
 *              readable summary as message and the report as details.
 * Deterministic code only. With no input it validates the astronauts pipeline.
 */
import { ApplicationFailure, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../activities/errors.ts';
import type { ValidationReport, ValidationSpec } from '../activities/pipeline-validation/types.ts';

export const VALIDATE_WORKFLOW_TYPE = 'validatePipeline';

/** The astronauts pipeline (db/migrations/postgres/010, clickhouse-ddl/010, debezium/astros-postgres.json). */
export const ASTRONAUTS_VALIDATION: ValidationSpec = {
  source: { schema: 'public', table: 'astronauts', key: ['person_key'] },
  target: { database: 'astros', table: 'astronauts', versionColumn: 'version', deletedColumn: 'is_deleted' },
  catchUp: {
    mode: 'slot',
    slotName: 'astros_debezium',
    kafka: { topic: 'astros.public.astronauts', groupId: 'clickhouse-astronauts' },
  },
};

export interface ValidatePipelineInput {
  /** What to compare; default ASTRONAUTS_VALIDATION. */
  spec?: ValidationSpec;
  /** Fail (type ReplicationLag) instead of completing when ClickHouse has not caught up. */
  failOnLag?: boolean;
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
  const spec = input.spec ?? ASTRONAUTS_VALIDATION;
  if ((spec.maxWaitMs ?? 60_000) + COMPARE_OVERHEAD_MS > 10 * 60_000) {
    throw ApplicationFailure.create({ type: IngestErrorType.InvalidInput, nonRetryable: true, message: 'spec.maxWaitMs must be at most 8 minutes' });
  }
  const report = await compareTable({ spec, reportKey: `${info.workflowId}/${info.runId}` });
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
