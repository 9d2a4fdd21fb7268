/**
 * ingestAstronauts: fetch the people-in-space feed, validate and transform it,
 * and apply it to Postgres as one snapshot (arrivals inserted, craft changes
 * updated, departures deleted), returning a summary.
 *
 * Deterministic code only: no I/O, no Node built-ins, no clocks. Timeouts and
 * retry policies are declared here, once, where the activities are proxied.
 * The people list never enters workflow history: the fetch stages the body in
 * Postgres and the later steps receive a reference (payloads can be MBs).
 */
import { ChildWorkflowFailure, ParentClosePolicy, executeChild, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { ApplicationFailure } from '@temporalio/common';
import type { IngestActivities } from '../activities/index.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../shared/errors.ts';
import { activityLimits, type IngestAstronautsInput, type IngestSummary, type IngestValidation } from '../shared/workflows.ts';
import { validatePipeline } from './validate-pipeline.ts';

const { fetchAstronauts } = proxyActivities<IngestActivities>({
  startToCloseTimeout: activityLimits.fetch.startToCloseMs,
  // The fetch heartbeats on every HTTP attempt and while the body arrives.
  heartbeatTimeout: activityLimits.fetch.heartbeatMs,
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts: 5,
    nonRetryableErrorTypes,
  },
});

const { validateAstronauts } = proxyActivities<IngestActivities>({
  startToCloseTimeout: activityLimits.validate.startToCloseMs,
  // Validation is pure apart from reading the staged body: only a database blip is worth retrying.
  retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes },
});

const { upsertAstronauts } = proxyActivities<IngestActivities>({
  startToCloseTimeout: activityLimits.upsert.startToCloseMs,
  heartbeatTimeout: activityLimits.upsert.heartbeatMs,
  // Safe to retry: idempotent per run key, and all-or-nothing (one transaction).
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes },
});

export async function ingestAstronauts(input?: IngestAstronautsInput | null): Promise<IngestSummary> {
  // The Web UI may start it with no input at all, or with `null`.
  input ??= {};
  const info = workflowInfo();
  const runKey = input.runKey ?? info.runId;

  const fetched = await fetchAstronauts({ payloadId: info.runId, ...(input.sourceUrl !== undefined ? { sourceUrl: input.sourceUrl } : {}) });
  if (fetched.httpAttempts > 1) {
    log.warn('source needed retries', { httpAttempts: fetched.httpAttempts, retriedErrors: fetched.retriedErrors });
  }

  const checked = await validateAstronauts({ runKey, payload: fetched });
  if (checked.numberMismatch) {
    log.warn('payload number disagrees with its people list', { declared: checked.declaredNumber, listed: checked.fetched });
  }
  if (checked.invalid + checked.duplicates > 0) {
    log.warn('records rejected to ingest_rejects', { invalid: checked.invalid, duplicates: checked.duplicates, sample: checked.sampleReasons });
  }

  const applied = await upsertAstronauts({
    runKey,
    workflowId: info.workflowId,
    workflowRunId: info.runId,
    payload: fetched,
    httpAttempts: fetched.httpAttempts,
  });

  const summary: IngestSummary = {
    workflowId: info.workflowId,
    runId: info.runId,
    runKey,
    status: applied.status,
    sourceUrl: fetched.sourceUrl,
    httpAttempts: fetched.httpAttempts,
    fetched: applied.fetched,
    declaredNumber: applied.declaredNumber,
    numberMismatch: applied.numberMismatch,
    inserted: applied.inserted,
    updated: applied.updated,
    unchanged: applied.unchanged,
    departed: applied.departed,
    returned: applied.returned,
    rejected: applied.rejected,
    duplicates: applied.duplicates,
  };
  // Prove the change reached ClickHouse intact. Only after a run that wrote to a
  // captured table (tests ingest into private schemas that CDC does not see).
  if (input.validate !== false && applied.status === 'applied' && applied.captured === true) {
    summary.validation = await validateAfterIngest(`${info.workflowId}-validate-${runKey}`);
  }
  log.info('ingest finished', { ...summary });
  return summary;
}

async function validateAfterIngest(workflowId: string): Promise<IngestValidation> {
  try {
    const report = await executeChild(validatePipeline, {
      workflowId,
      args: [{}],
      // The check is worth finishing even if this run is terminated.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    return { workflowId, outcome: report.outcome, summary: report.summary };
  } catch (err) {
    if (!(err instanceof ChildWorkflowFailure)) throw err;
    const cause = err.cause;
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    const outcome = type === IngestErrorType.ValidationMismatch ? 'mismatch' : type === IngestErrorType.ReplicationLag ? 'lag' : 'failed';
    log.error('validation after ingest did not pass', { workflowId, outcome, message: cause?.message ?? err.message });
    return { workflowId, outcome, summary: cause?.message ?? err.message };
  }
}
