/**
 * What the worker, the workflows and their clients (the CLI, the stack's
 * worker component, the monitor, the Web UI's users) agree on: the task
 * queue, each workflow's type name and id, the query a client may ask, the
 * ingest's activity limits and its input and result.
 * Imported by workflow code: keep it free of Node built-ins and I/O.
 */
import type { QueryDefinition } from '@temporalio/common';

/** Default task queue of the ingest worker (overridable with TASK_QUEUE). */
export const INGEST_TASK_QUEUE = 'astros-ingest';

/** Workflow type name as it appears in the Web UI ("Workflow Type"). */
export const INGEST_WORKFLOW_TYPE = 'ingestAstronauts';

/**
 * Fixed workflow id used by the CLI. Starting a second run under the same id
 * while one is open fails with WorkflowExecutionAlreadyStarted (the CLI then
 * attaches to the open run instead of starting another one); a closed id can
 * be reused (ALLOW_DUPLICATE). Schedules append a timestamp to this id and
 * use overlap policy SKIP, so scheduled runs never overlap either.
 */
export const INGEST_WORKFLOW_ID = 'ingest-astronauts';

/** Default schedule id (overridable with ASTROS_SCHEDULE_ID). */
export const INGEST_SCHEDULE_ID = 'ingest-astronauts';

/** validatePipeline: also a child of every ingest that changed a captured table, and on a schedule of its own. */
export const VALIDATE_WORKFLOW_TYPE = 'validatePipeline';
/** The schedule of validatePipeline alone (besides the check after each ingest), and its runs' id prefix. */
export const VALIDATE_SCHEDULE_ID = 'validate-pipeline';

/** Capture a table (`astros tables add`, or the Web UI: input {"source": "schema.table"}); one run per table. */
export const ADD_TABLE_WORKFLOW_TYPE = 'addTable';
export const addTableWorkflowId = (source: string): string => `tables-add-${source}`;
/** The patch (workflow.patched) that added the dbt models step to addTable and removeTable: histories recorded before it replay without the step. */
export const DBT_MODELS_PATCH = 'tables-write-dbt-models';
/** Stop capturing a table (`astros tables remove`). */
export const REMOVE_TABLE_WORKFLOW_TYPE = 'removeTable';
export const removeTableWorkflowId = (source: string): string => `tables-remove-${source}`;

/** Rebuild one table's ClickHouse copy from Postgres (`astros resync`). */
export const RESYNC_WORKFLOW_TYPE = 'resyncTable';
export const resyncWorkflowId = (source: string): string => `resync-${source}`;

/** What resyncTable answers to its `progress` query. */
export interface ResyncProgress {
  phase: 'preparing' | 'loading' | 'swapping' | 'completing' | 'validating' | 'done';
  rangesDone: number;
  ranges: number;
  rowsLoaded: number;
  estimatedRows: number;
}

/** resyncTable's progress query (what defineQuery makes, written out: this module does not load the workflow SDK). */
export const resyncProgressQuery = { type: 'query', name: 'progress' } as QueryDefinition<ResyncProgress>;

/** After a lost or missing replication slot (`astros recover`). */
export const [RECOVER_WORKFLOW_TYPE, RECOVER_WORKFLOW_ID] = ['recoverPipeline', 'recover-pipeline'] as const;

/** The one watch of schema changes, started by the worker. */
export const [SCHEMA_WATCH_WORKFLOW_TYPE, SCHEMA_WATCH_WORKFLOW_ID] = ['watchSchemaChanges', 'schema-changes'] as const;
/** After a refused schema change was fixed (`astros tables resume`). */
export const RESUME_TABLE_WORKFLOW_TYPE = 'resumeSchemaChanges';
export const resumeTableWorkflowId = (source: string): string => `tables-resume-${source}`;

/** Back up the pipeline (`astros backup create`, and its schedule), restore it, verify a backup: one run of each at a time. */
export const [BACKUP_WORKFLOW_TYPE, BACKUP_WORKFLOW_ID, BACKUP_SCHEDULE_ID] = ['backupPipeline', 'backup-pipeline', 'backup-pipeline'] as const;
export const [RESTORE_WORKFLOW_TYPE, RESTORE_WORKFLOW_ID] = ['restorePipeline', 'restore-pipeline'] as const;
export const [VERIFY_BACKUP_WORKFLOW_TYPE, VERIFY_BACKUP_WORKFLOW_ID] = ['verifyBackup', 'verify-backup'] as const;

/** The captured table ingestAstronauts writes; validatePipeline compares it when told no other. */
export const INGEST_TABLE = 'public.astronauts';

/**
 * Activity time limits, declared once and used by proxyActivities. Exported
 * so that config validation can check that the HTTP timeouts and in-activity
 * retries fit inside the fetch activity's start-to-close timeout.
 */
export const activityLimits = {
  fetch: { startToCloseMs: 120_000, heartbeatMs: 30_000 },
  validate: { startToCloseMs: 60_000 },
  upsert: { startToCloseMs: 300_000, heartbeatMs: 60_000 },
} as const;

/** Workflow input. Everything is optional so the workflow can be started from the Web UI with no input. */
export interface IngestAstronautsInput {
  /** Override the source URL (defaults to the worker's ASTROS_SOURCE_URL). */
  sourceUrl?: string;
  /**
   * Idempotency key of the Postgres write. Defaults to this run's id. Passing
   * an earlier run's id re-executes the pipeline without applying anything:
   * that run id is already recorded in `ingest_runs`.
   */
  runKey?: string;
  /**
   * Run validatePipeline as a child workflow after a run that changed a table
   * captured by CDC (default true). Its outcome is part of the summary; a
   * mismatch fails the child (visible in the Web UI), not the ingest.
   */
  validate?: boolean;
}

/** What the validation child reported, as carried in the ingest summary. */
export interface IngestValidation {
  workflowId: string;
  outcome: 'agree' | 'lag' | 'mismatch' | 'failed';
  summary: string;
}

export type IngestStatus = 'applied' | 'already-applied' | 'stale';

/** What one applied snapshot changed, as counted in `ingest_runs`. */
export interface ApplyCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  departed: number;
  /** Inserted people who had departed earlier (a subset of `inserted`). */
  returned: number;
  /** Records dead-lettered into ingest_rejects (invalid + duplicates). */
  rejected: number;
  /** Of `rejected`, the duplicates of another record in the same payload. */
  duplicates: number;
}

/** ApplyCounts plus what the payload itself said. */
export interface IngestCounts extends ApplyCounts {
  /** Records in the payload's people[] list. */
  fetched: number;
  /** The payload's own `number` field. */
  declaredNumber: number;
  /** True when `number` disagrees with the length of people[]. */
  numberMismatch: boolean;
}

export interface IngestSummary extends IngestCounts {
  workflowId: string;
  runId: string;
  /** Key of the `ingest_runs` row (the run id unless the input gave one). */
  runKey: string;
  status: IngestStatus;
  sourceUrl: string;
  /** HTTP requests the fetch needed (1 when the first one succeeded). */
  httpAttempts: number;
  /** Present when validatePipeline ran as a child after this run. */
  validation?: IngestValidation;
}
