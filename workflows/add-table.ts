/**
 * addTable: capture one more table on a running pipeline (`astros tables add`,
 * or the Web UI: Workflow Type addTable, input {"source": "public.orders"}).
 *
 *   1. check the table (key, columns, CDC role, replica identity): a problem
 *      fails at once, naming the fix, with nothing changed
 *   2. declare it in the live catalog (state adding)
 *   3. apply the catalog as `npm run setup` does: publication, topic,
 *      ClickHouse objects, the connector re-registered with the new table list
 *      (the only pause the other tables see)
 *   4. Debezium's incremental snapshot through the signal table brings the
 *      rows that already exist, while changes keep streaming
 *   5. validatePipeline must agree; keys it finds different or missing are
 *      read again (catalog/README.md, "Snapshot rows and versions"), at most twice
 *   6. state streaming; on any failure after 2, state blocked with the error,
 *      and running the add again resumes.
 *
 * Idempotent: the workflow id is tables-add-<schema.table> (the CLI attaches
 * to a running add), every step can be repeated.
 * Deterministic code only.
 */
import { ApplicationFailure, ChildWorkflowFailure, executeChild, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../activities/errors.ts';
import type { ValidationReport } from '../activities/pipeline-validation/types.ts';
import type { TableDeclarationInput } from '../catalog/declaration.ts';
import { validatePipeline } from './validate-pipeline.ts';

export const ADD_TABLE_WORKFLOW_TYPE = 'addTable';
export const addTableWorkflowId = (source: string): string => `tables-add-${source}`;

export type AddTableInput = TableDeclarationInput;

export interface AddTableResult {
  source: string;
  key: string[];
  estimatedRows: number;
  snapshotRows: number;
  /** Keys re-read after a validation found them stale. */
  reread: number;
  validation: { workflowId: string; outcome: ValidationReport['outcome']; summary: string };
}

const quick = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes };

const { checkTableForCapture, declareAddingTable, setTableState, tableValidationSpec } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 60_000,
  retry: quick,
});

const { applyCatalogToStack, requestSnapshot } = proxyActivities<IngestActivities>({
  // Registering the connector and the consumers' rebalance take up to a few minutes on a busy machine.
  startToCloseTimeout: 10 * 60_000,
  heartbeatTimeout: 60_000,
  retry: quick,
});

const { awaitSnapshot } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 6 * 60 * 60_000,
  heartbeatTimeout: 60_000,
  retry: { ...quick, maximumAttempts: 20 },
});

/** Keys named per kind by the validation of an add: the ones to re-read. */
const MAX_KEYS = 1000;
const REREADS = 2;

async function validate(source: string, attempt: number): Promise<{ workflowId: string; report: ValidationReport }> {
  const info = workflowInfo();
  const workflowId = `${info.workflowId}-validate-${info.runId.slice(0, 8)}-${attempt}`;
  const spec = await tableValidationSpec({ source, maxKeys: MAX_KEYS });
  try {
    return { workflowId, report: await executeChild(validatePipeline, { workflowId, args: [{ spec: { ...spec, maxWaitMs: 5 * 60_000 } }] }) };
  } catch (err) {
    const details = err instanceof ChildWorkflowFailure && err.cause instanceof ApplicationFailure ? err.cause.details?.[0] : undefined;
    if (details && typeof details === 'object' && 'outcome' in details) return { workflowId, report: details as ValidationReport };
    throw err;
  }
}

export async function addTable(input: AddTableInput): Promise<AddTableResult> {
  if (!input?.source) throw ApplicationFailure.create({ type: IngestErrorType.InvalidInput, nonRetryable: true, message: 'input needs "source": "schema.table"' });
  const info = workflowInfo();
  const checked = await checkTableForCapture(input);
  const { source } = checked;
  await declareAddingTable(input);
  try {
    await applyCatalogToStack();
    let signal = await requestSnapshot({ source, signalId: `${info.runId}-0` });
    let { snapshotRows } = await awaitSnapshot({ ...signal, estimatedRows: checked.estimatedRows });
    let reread = 0;
    let result = await validate(source, 0);
    for (let attempt = 1; attempt <= REREADS && result.report.outcome !== 'agree'; attempt++) {
      const stale = result.report.samples.filter((s) => s.kind !== 'extra').map((s) => s.key);
      log.warn('validation after the snapshot did not agree', { outcome: result.report.outcome, summary: result.report.summary, rereading: stale.length });
      if (stale.length > 0 && !result.report.truncated) {
        signal = await requestSnapshot({ source, signalId: `${info.runId}-${attempt}`, keys: stale });
        snapshotRows += (await awaitSnapshot({ ...signal, estimatedRows: stale.length })).snapshotRows;
        reread += stale.length;
      }
      result = await validate(source, attempt);
    }
    if (result.report.outcome !== 'agree') {
      throw ApplicationFailure.create({
        type: result.report.outcome === 'lag' ? IngestErrorType.ReplicationLag : IngestErrorType.ValidationMismatch,
        nonRetryable: true,
        // One line (the report, with the differing keys, is in the details and in validation_reports).
        message: `${source}: ${result.report.summary.split('\n')[0]}`,
        details: [result.report],
      });
    }
    await setTableState({ source, state: 'streaming' });
    return {
      source,
      key: checked.key,
      estimatedRows: checked.estimatedRows,
      snapshotRows,
      reread,
      validation: { workflowId: result.workflowId, outcome: result.report.outcome, summary: result.report.summary },
    };
  } catch (err) {
    const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    await setTableState({ source, state: 'blocked', error: message });
    throw err;
  }
}
