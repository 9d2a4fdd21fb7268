/**
 * Schema changes of captured tables reach ClickHouse with no manual step.
 *
 *   watchSchemaChanges      runs for as long as the pipeline does (the worker
 *                           starts it; Web UI: workflow id schema-changes):
 *                           every POLL_SECONDS it reads the DDL log Postgres
 *                           writes (public.cdc_ddl_log: the pipeline's
 *                           database's, and each group's own database's)
 *                           and applies each pending change, in log (= LSN)
 *                           order per database, as a child
 *   applyTableSchemaChange  one change (workflow id schema-change-<log id>):
 *                           ClickHouse objects changed, the consumer rewound,
 *                           then a resync when rows already there need values
 *                           only Postgres has; a change ClickHouse cannot take
 *                           stops that table only and fails naming the fix
 *   resumeSchemaChanges     after the fix (npm run tables -- resume <table>)
 *
 * Each table's changes are applied one at a time (one child per table at
 * once), so two changes of a table never race to recreate its queue; tables
 * are applied side by side, so a slow change of one (a reload) holds back no
 * other table's. A change that arrives while its table's child runs is folded
 * into it: applying it picks up every pending change of the table up to the
 * shape the table has then, and when the table's shape moves during the
 * reload, the reload stops at once (resyncTable's `superseded`) and the child
 * applies the new shape and reloads again, with no failing attempt.
 * A blocked table's later changes wait for its resume while other tables' go
 * on. Deterministic code only.
 *
 * Versions: a watch run started before per-table application replays its
 * own code (patched(PER_TABLE_PATCH)); the watch continues as new every
 * POLLS_PER_RUN polls, so that code goes with the last old run. Folding needs
 * no guard: an applyTableSchemaChange started before it issues the same
 * commands (test/unit/schema-changes-replay.test.ts replays both).
 */
import { ApplicationFailure, condition, continueAsNew, executeChild, log, patched, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../shared/errors.ts';
import type { AppliedChange } from '../activities/schema-changes.ts';
import { resyncTable } from './resync-table.ts';

/** Log ids are per source database: a change logged in a group's own database names its group. */
export const schemaChangeWorkflowId = (id: string, group?: string): string => (group === undefined ? `schema-change-${id}` : `schema-change-${group}-${id}`);

/** A change's input: its log id, and the group whose own database logged it (none: the pipeline's database). */
type ChangeRef = { id: string; group?: string };
const changeRef = (c: ChangeRef): ChangeRef => ({ id: c.id, ...(c.group !== undefined ? { group: c.group } : {}) });

/** The pipeline knows of a change within this (plus the change's own apply time). */
const POLL_SECONDS = 5;
/** Polls per run before the watch continues as new (keeps its history small). */
const POLLS_PER_RUN = 500;
/** A table whose change failed is tried again after this many poll intervals (the failure is logged). */
const RETRY_POLLS = 6;
/** Reloads of one change before it fails: a table altered over and over while it reloads. */
const MAX_RELOADS = 10;

/** The patched() id that guards the watch's per-table application (see the file header). */
export const PER_TABLE_PATCH = 'schema-changes-per-table';

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

const failureText = (err: unknown): string => (err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err));

export async function watchSchemaChanges(input: WatchInput = {}): Promise<void> {
  const every = Math.max(1, input.pollSeconds ?? POLL_SECONDS);
  if (!patched(PER_TABLE_PATCH)) return watchOneAtATime(input, every);
  /** The running child of each table; a table whose child failed waits until `retryAt`. */
  const running = new Map<string, Promise<void>>();
  const retryAt = new Map<string, number>();
  let finished = 0;
  for (let poll = 0; poll < POLLS_PER_RUN; poll++) {
    const pending = await pendingSchemaChanges({ ...(input.tables ? { tables: input.tables } : {}) });
    for (const change of pending) {
      // A table's later changes are folded into its running child, or applied after it.
      if (running.has(change.source) || (retryAt.get(change.source) ?? 0) > Date.now()) continue;
      const child = executeChild(applyTableSchemaChange, { workflowId: schemaChangeWorkflowId(change.id, change.group), args: [changeRef(change)] }).then(
        () => {
          retryAt.delete(change.source);
        },
        (err: unknown) => {
          retryAt.set(change.source, Date.now() + RETRY_POLLS * every * 1000);
          log.warn('schema change not applied', { id: change.id, source: change.source, error: failureText(err) });
        },
      );
      running.set(
        change.source,
        child.finally(() => {
          running.delete(change.source);
          finished++;
        }),
      );
    }
    // Poll again after `every`, or at once when a child ends (its table may have a change waiting).
    const seen = finished;
    await condition(() => finished !== seen, every * 1000);
  }
  // Children end with their parent's run: let them finish before continuing as new.
  await Promise.all(running.values());
  await continueAsNew<typeof watchSchemaChanges>(input);
}

/** The watch as it was before per-table application: every pending change in log order, one at a time. */
async function watchOneAtATime(input: WatchInput, every: number): Promise<void> {
  for (let poll = 0; poll < POLLS_PER_RUN; poll++) {
    const pending = await pendingSchemaChanges({ ...(input.tables ? { tables: input.tables } : {}) });
    const failed = new Set<string>();
    for (const change of pending) {
      if (failed.has(change.source)) continue; // its later changes wait for the table to be fixed
      try {
        await executeChild(applyTableSchemaChange, { workflowId: schemaChangeWorkflowId(change.id, change.group), args: [changeRef(change)] });
      } catch (err) {
        failed.add(change.source);
        log.warn('schema change not applied', { id: change.id, source: change.source, error: err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err) });
      }
    }
    if (pending.length === 0) await sleep(every * 1000);
  }
  await continueAsNew<typeof watchSchemaChanges>(input);
}

const refused = (a: AppliedChange) =>
  ApplicationFailure.create({ type: IngestErrorType.SchemaChangeRefused, nonRetryable: true, message: a.message ?? `${a.source}: schema change refused` });

export async function applyTableSchemaChange(input: ChangeRef): Promise<AppliedChange> {
  let applied = await applySchemaChange(changeRef(input));
  if (applied.status === 'refused') throw refused(applied);
  if (!applied.reload) return applied;
  // Replays the code before folding as it was: the first reload is the same child (same id), and a reload
  // is `superseded` only when asked for it (input.onShapeChange), which runs started before never did.
  for (let load = 1; ; load++) {
    const id = `${workflowInfo().workflowId}-reload${load > 1 ? `-${load}` : ''}`;
    const reloaded = await executeChild(resyncTable, { workflowId: id, args: [{ source: applied.source, onShapeChange: 'return' as const }] });
    if (!reloaded.superseded) break;
    if (load >= MAX_RELOADS) {
      throw ApplicationFailure.create({ type: IngestErrorType.TableShapeChanged, nonRetryable: true, message: `${applied.source}: its shape kept changing during ${load} reloads: ${reloaded.superseded}` });
    }
    log.info('the table changed shape while it was reloaded: applying its new shape, then reloading again', { source: applied.source, why: reloaded.superseded });
    // This change again, with every later pending change of the table, from this change's shape before to the table's now.
    applied = await applySchemaChange(changeRef(input));
    if (applied.status === 'refused') throw refused(applied);
    if (applied.status !== 'applied') return applied;
  }
  await finishSchemaChange({ ids: applied.ids ?? [applied.id], steps: [...applied.steps, 'table loaded again'], ...(input.group !== undefined ? { group: input.group } : {}) });
  return applied;
}

export async function resumeSchemaChanges(input: { source: string }): Promise<AppliedChange> {
  if (!input?.source) throw ApplicationFailure.create({ type: IngestErrorType.InvalidInput, nonRetryable: true, message: 'input needs "source": "schema.table"' });
  const resumed = await resumeTable({ source: input.source });
  await executeChild(resyncTable, { workflowId: `${workflowInfo().workflowId}-reload-${workflowInfo().runId.slice(0, 8)}`, args: [{ source: input.source }] });
  return resumed;
}
