/**
 * recoverPipeline: bring the stream back after Postgres invalidated (or lost)
 * the connector's replication slot (`npm run recover`, or the Web UI:
 * Workflow Type recoverPipeline, no input).
 *
 *   1. resetConnectorSlot: connector stopped, dead slot dropped, offsets
 *      reset, resumed on a new slot (streaming from its consistent point)
 *   2. resyncTable for every captured table (or the named ones), one after
 *      another: what changed while no slot kept the WAL comes from Postgres
 *      itself, and each ends with validation agreeing
 *
 * Versions stay ordered: the new slot's LSNs are above every old one, and a
 * resync's loaded rows sit between (catalog/README.md, "Resync").
 * Deterministic code only.
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { nonRetryableErrorTypes } from '../activities/errors.ts';
import type { ResetResult } from '../activities/recover.ts';
import { resyncTable, type ResyncTableResult } from './resync-table.ts';

export const RECOVER_WORKFLOW_TYPE = 'recoverPipeline';
export const RECOVER_WORKFLOW_ID = 'recover-pipeline';

export interface RecoverPipelineInput {
  /** Default: the pipeline's connector. */
  connector?: string;
  /** Default: every captured table. */
  tables?: string[];
}

export interface RecoverPipelineResult {
  reset: ResetResult;
  tables: { source: string; loadedRows: number; validation?: string }[];
}

const { resetConnectorSlot, tablesToResync } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 15 * 60_000,
  heartbeatTimeout: 60_000,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes },
});

export async function recoverPipeline(input: RecoverPipelineInput = {}): Promise<RecoverPipelineResult> {
  const reset = await resetConnectorSlot({ ...(input?.connector ? { connector: input.connector } : {}) });
  const tables: RecoverPipelineResult['tables'] = [];
  for (const source of await tablesToResync({ ...(input?.tables ? { tables: input.tables } : {}) })) {
    const r: ResyncTableResult = await executeChild(resyncTable, { workflowId: `${workflowInfo().workflowId}-resync-${source}-${workflowInfo().runId.slice(0, 8)}`, args: [{ source }] });
    tables.push({ source, loadedRows: r.loadedRows, ...(r.validation ? { validation: r.validation.summary } : {}) });
  }
  return { reset, tables };
}
