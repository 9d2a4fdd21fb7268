/**
 * removeTable: stop capturing a table (`astros tables remove`, or the Web UI:
 * Workflow Type removeTable, input {"source": "public.orders", "drop": false}).
 * The catalog marks it removed and is applied (publication and the
 * connector's table list lose it); its ClickHouse objects are dropped only
 * with drop: true. Idempotent. Deterministic code only.
 */
import { ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import type { DbtModels } from '../activities/tables.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../shared/errors.ts';
import { DBT_MODELS_PATCH } from '../shared/workflows.ts';

export interface RemoveTableResult {
  source: string;
  dropped: string[];
  /** The dbt history models written without the table's (absent in runs started before the workflow wrote them). */
  dbtModels?: DbtModels;
  /** What applying the catalog said of a group left without tables (its connector, slot and publication removed, or kept and why). */
  groups?: string[];
}

export interface RemoveTableInput {
  source: string;
  /** Also drop the ClickHouse queue, views, change log and current state. */
  drop?: boolean;
}

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes };
const { removeFromCatalog, dropTableTargets, writeDbtModels } = proxyActivities<IngestActivities>({ startToCloseTimeout: 60_000, retry });
const { applyCatalogToStack } = proxyActivities<IngestActivities>({ startToCloseTimeout: 10 * 60_000, heartbeatTimeout: 60_000, retry });

export async function removeTable(input: RemoveTableInput): Promise<RemoveTableResult> {
  if (!input?.source) throw ApplicationFailure.create({ type: IngestErrorType.InvalidInput, nonRetryable: true, message: 'input needs "source": "schema.table"' });
  await removeFromCatalog({ source: input.source });
  // Histories recorded before the activity said anything return nothing here.
  const groups = ((await applyCatalogToStack()) as string[] | undefined) ?? [];
  const dropped = input.drop ? await dropTableTargets({ source: input.source }) : [];
  // The table's generated model goes (see addTable; a history recorded before this step replays without it).
  const dbtModels = patched(DBT_MODELS_PATCH) ? await writeDbtModels() : undefined;
  return { source: input.source, dropped, ...(dbtModels ? { dbtModels } : {}), ...(groups.length > 0 ? { groups } : {}) };
}
