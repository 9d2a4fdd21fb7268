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
 *   4. once the connector's task captures it, resyncTable loads the rows
 *      that already exist (parallel COPY into a shadow copy, swapped in) while
 *      changes keep streaming, and validation must agree; when it does not,
 *      the table is loaded once more
 *   5. state streaming, and the dbt history models written from the live
 *      catalog (so an add started from the Web UI gets its model too; runs
 *      started before this step existed replay without it: patched());
 *      on any failure after 2, state blocked with the error, and running the
 *      add again resumes.
 *
 * Idempotent: the workflow id is tables-add-<schema.table> (the CLI attaches
 * to a running add), every step can be repeated.
 * Deterministic code only.
 */
import { ApplicationFailure, executeChild, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../shared/errors.ts';
import type { ValidationReport } from '../shared/validation.ts';
import { DBT_MODELS_PATCH } from '../shared/workflows.ts';
import type { TableDeclarationInput } from '../catalog/declaration.ts';
import type { DbtModels } from '../activities/tables.ts';
import { resyncTable } from './resync-table.ts';

export type AddTableInput = TableDeclarationInput;

export interface AddTableResult {
  source: string;
  key: string[];
  estimatedRows: number;
  /** Rows the load read (of the last load, when there were two). */
  loadedRows: number;
  /** Loads run: 2 when the first one's validation did not agree. */
  loads: number;
  /** Absent when the load was cancelled after its swap (its rows are in; its validation did not run). */
  validation?: { workflowId: string; outcome: ValidationReport['outcome']; summary: string };
  /** The dbt history models written once the table streams (absent in runs started before the workflow wrote them). */
  dbtModels?: DbtModels;
}

const quick = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes };

const { checkTableForCapture, declareAddingTable, setTableState, writeDbtModels } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 60_000,
  retry: quick,
});

const { applyCatalogToStack, awaitCapture } = proxyActivities<IngestActivities>({
  // Registering the connector and the consumers' rebalance take up to a few minutes on a busy machine.
  startToCloseTimeout: 10 * 60_000,
  heartbeatTimeout: 60_000,
  retry: quick,
});

const LOADS = 2;

/** The validation report a failed load carries, if validation is what failed it. */
function validationReportOf(err: unknown): ValidationReport | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const details = e instanceof ApplicationFailure ? e.details?.[0] : undefined;
    if (details && typeof details === 'object' && 'outcome' in details) return details as ValidationReport;
  }
  return undefined;
}

export async function addTable(input: AddTableInput): Promise<AddTableResult> {
  if (!input?.source) throw ApplicationFailure.create({ type: IngestErrorType.InvalidInput, nonRetryable: true, message: 'input needs "source": "schema.table"' });
  const info = workflowInfo();
  const checked = await checkTableForCapture(input);
  const { source } = checked;
  await declareAddingTable(input);
  try {
    await applyCatalogToStack();
    await awaitCapture({ source });
    let loads = 0;
    for (;;) {
      loads++;
      try {
        const loaded = await executeChild(resyncTable, { workflowId: `${info.workflowId}-load-${info.runId.slice(0, 8)}-${loads}`, args: [{ source }] });
        await setTableState({ source, state: 'streaming' });
        const dbtModels = patched(DBT_MODELS_PATCH) ? await writeDbtModels() : undefined;
        return {
          source,
          key: checked.key,
          estimatedRows: checked.estimatedRows,
          loadedRows: loaded.rowsRead,
          loads,
          ...(loaded.validation ? { validation: loaded.validation } : {}),
          ...(dbtModels ? { dbtModels } : {}),
        };
      } catch (err) {
        // The load's validation did not agree (its report is the innermost failure's details): load once more.
        const report = validationReportOf(err);
        if (!report) throw err;
        if (loads >= LOADS) {
          throw ApplicationFailure.create({
            type: report.outcome === 'lag' ? IngestErrorType.ReplicationLag : IngestErrorType.ValidationMismatch,
            nonRetryable: true,
            // One line (the report, with the differing keys, is in the details and in validation_reports).
            message: `${source}: ${report.summary.split('\n')[0]}`,
            details: [report],
          });
        }
        log.warn('validation after the load did not agree: loading once more', { summary: report.summary });
      }
    }
  } catch (err) {
    const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    await setTableState({ source, state: 'blocked', error: message });
    throw err;
  }
}
