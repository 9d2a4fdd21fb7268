/**
 * recoverPipeline: bring the stream back after Postgres invalidated (or lost)
 * the connector's replication slot (`npm run recover`, or the Web UI:
 * Workflow Type recoverPipeline, no input).
 *
 *   1. resetConnectorSlot: connector stopped, dead slot dropped, offsets
 *      reset, a new slot made and the capture gap recorded for each table
 *      the connector captures (astros.capture_gaps: from which LSN to which
 *      one changes were not captured), resumed on the new slot
 *   2. resyncTable for every captured table (or the named ones), one after
 *      another: what changed while no slot kept the WAL comes from Postgres
 *      itself (each key's net result: a read or a delete at the reload's
 *      version where it differs, nothing where it does not), and each ends
 *      with validation agreeing; its gap row then names the reload (a later
 *      resync of a table the recovery did not reach does the same)
 *
 * Versions stay ordered: the new slot's LSNs are above every old one, and a
 * resync's loaded rows sit between (catalog/README.md, "Resync").
 * Deterministic code only.
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { nonRetryableErrorTypes } from '../shared/errors.ts';
import { groupNames } from '../shared/names.ts';
import type { ResetResult } from '../activities/recover.ts';
import { resyncTable, type ResyncTableResult } from './resync-table.ts';

export interface RecoverPipelineInput {
  /** The table group whose slot is recovered (default: the default group); the other groups keep streaming. */
  group?: string;
  /** Default: the group's connector. */
  connector?: string;
  /** Default: every captured table of the group. */
  tables?: string[];
}

export interface RecoverPipelineResult {
  reset: ResetResult;
  tables: { source: string; loadedRows: number; changedRows: number; deletedRows: number; keptRows: number; lsnFloor: string; validation?: string }[];
}

const { resetConnectorSlot, tablesToResync } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 15 * 60_000,
  heartbeatTimeout: 60_000,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes },
});

export async function recoverPipeline(input: RecoverPipelineInput = {}): Promise<RecoverPipelineResult> {
  const recoveredBy = `${workflowInfo().workflowId}/${workflowInfo().runId}`;
  const connector = input?.connector ?? (input?.group ? groupNames(input.group).connector : undefined);
  const reset = await resetConnectorSlot({ ...(connector ? { connector } : {}), recoveredBy });
  const tables: RecoverPipelineResult['tables'] = [];
  for (const source of await tablesToResync({ ...(input?.tables ? { tables: input.tables } : {}), ...(input?.group ? { group: input.group } : {}) })) {
    const r: ResyncTableResult = await executeChild(resyncTable, { workflowId: `${workflowInfo().workflowId}-resync-${source}-${workflowInfo().runId.slice(0, 8)}`, args: [{ source }] });
    tables.push({ source, loadedRows: r.loadedRows, changedRows: r.changedRows, deletedRows: r.deletedRows, keptRows: r.keptRows, lsnFloor: r.lsnFloor, ...(r.validation ? { validation: r.validation.summary } : {}) });
  }
  return { reset, tables };
}
