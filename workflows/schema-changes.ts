/**
 * Schema changes of captured tables reach ClickHouse with no manual step.
 *
 *   watchSchemaChanges      runs for as long as the pipeline does (the worker
 *                           starts it; Web UI: workflow id schema-changes):
 *                           every POLL_SECONDS it reads the DDL log Postgres
 *                           writes (public.cdc_ddl_log) and applies each
 *                           pending change, in log (= LSN) order, as a child
 *   applyTableSchemaChange  one change (workflow id schema-change-<log id>):
 *                           ClickHouse objects changed, the consumer rewound,
 *                           then a resync when rows already there need values
 *                           only Postgres has; a change ClickHouse cannot take
 *                           stops that table only and fails naming the fix
 *   resumeSchemaChanges     after the fix (npm run tables -- resume <table>)
 *
 * Changes are applied one at a time, so two changes of one table never race;
 * a blocked table's later changes wait for its resume while other tables'
 * go on. Deterministic code only.
 */
import { ApplicationFailure, continueAsNew, executeChild, log, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../activities/errors.ts';
import type { AppliedChange } from '../activities/schema-changes.ts';
import { resyncTable } from './resync-table.ts';

export const SCHEMA_WATCH_WORKFLOW_TYPE = 'watchSchemaChanges';
export const SCHEMA_WATCH_WORKFLOW_ID = 'schema-changes';
export const RESUME_TABLE_WORKFLOW_TYPE = 'resumeSchemaChanges';
export const resumeTableWorkflowId = (source: string): string => `tables-resume-${source}`;
export const schemaChangeWorkflowId = (id: string): string => `schema-change-${id}`;

/** The pipeline knows of a change within this (plus the change's own apply time). */
const POLL_SECONDS = 5;
/** Polls per run before the watch continues as new (keeps its history small). */
const POLLS_PER_RUN = 500;

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes };

const { pendingSchemaChanges, finishSchemaChange } = proxyActivities<IngestActivities>({ startToCloseTimeout: 60_000, retry });
const { applySchemaChange, resumeTable } = proxyActivities<IngestActivities>({
  // Mutations of the copy and the wait for the old consumer to leave its group: heartbeated.
  startToCloseTimeout: 15 * 60_000,
  heartbeatTimeout: 90_000,
  retry,
});

export interface WatchInput {
  /** Only these tables (tests watch their own); all captured tables when absent. */
  tables?: string[];
  pollSeconds?: number;
}

export async function watchSchemaChanges(input: WatchInput = {}): Promise<void> {
  const every = Math.max(1, input.pollSeconds ?? POLL_SECONDS);
  for (let poll = 0; poll < POLLS_PER_RUN; poll++) {
    const pending = await pendingSchemaChanges({ ...(input.tables ? { tables: input.tables } : {}) });
    const failed = new Set<string>();
    for (const change of pending) {
      if (failed.has(change.source)) continue; // its later changes wait for the table to be fixed
      try {
        await executeChild(applyTableSchemaChange, { workflowId: schemaChangeWorkflowId(change.id), args: [{ id: change.id }] });
      } catch (err) {
        failed.add(change.source);
        log.warn('schema change not applied', { id: change.id, source: change.source, error: err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err) });
      }
    }
    if (pending.length === 0) await sleep(every * 1000);
  }
  await continueAsNew<typeof watchSchemaChanges>(input);
}

export async function applyTableSchemaChange(input: { id: string }): Promise<AppliedChange> {
  const applied = await applySchemaChange({ id: input.id });
  if (applied.status === 'refused') {
    throw ApplicationFailure.create({ type: IngestErrorType.SchemaChangeRefused, nonRetryable: true, message: applied.message ?? `${applied.source}: schema change refused` });
  }
  if (applied.reload) {
    await executeChild(resyncTable, { workflowId: `${workflowInfo().workflowId}-reload`, args: [{ source: applied.source }] });
    await finishSchemaChange({ ids: applied.ids ?? [applied.id], steps: [...applied.steps, 'table loaded again'] });
  }
  return applied;
}

export async function resumeSchemaChanges(input: { source: string }): Promise<AppliedChange> {
  if (!input?.source) throw ApplicationFailure.create({ type: IngestErrorType.InvalidInput, nonRetryable: true, message: 'input needs "source": "schema.table"' });
  const resumed = await resumeTable({ source: input.source });
  await executeChild(resyncTable, { workflowId: `${workflowInfo().workflowId}-reload-${workflowInfo().runId.slice(0, 8)}`, args: [{ source: input.source }] });
  return resumed;
}
