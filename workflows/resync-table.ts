/**
 * resyncTable: rebuild one captured table's ClickHouse copy from Postgres,
 * bypassing Kafka, while changes keep streaming (`astros resync <table>`, or
 * the Web UI: Workflow Type resyncTable, input {"source": "public.orders"}).
 *
 *   1. prepareResync: shadow objects, the version floor L, block ranges
 *   2. loadResyncRange for every range, `parallel` at a time; a range that
 *      finished is in this history and never read again (a worker killed
 *      mid-load resumes with the unfinished ones)
 *   3. swapResync: the shadow, with what streamed meanwhile, replaces the
 *      live copy in one EXCHANGE
 *   4. completeResync: late rows, the change history (only what differed),
 *      the old copy dropped
 *   5. validatePipeline must agree
 *
 * Cancelled (or failed) before the swap, the shadow objects are dropped and
 * the live copy is as it was. Whether a cancel came before or after the swap
 * began is decided here, in the run's history: a cancel already requested
 * when the loads end abandons, a later one cannot stop the swap. Once the
 * swap has begun the resync completes and the run ends completed, not
 * cancelled: its result says `cancelledAfterSwap` (the live table is the
 * reloaded copy; the closing validation is skipped or was cut short).
 * When the table's shape moves away from its copy (an ALTER TABLE during the
 * load, or one not yet applied when it starts: activities/resync-shape.ts),
 * nothing is swapped and it stops at once: it fails (TableShapeChanged), or,
 * with onShapeChange 'return' (a schema change reloading the table), returns
 * `superseded` so the caller folds the new shape in and reloads again.
 * Query `progress` for rows and ranges done. Deterministic code only.
 */
import { ApplicationFailure, CancellationScope, CancelledFailure, executeChild, isCancellation, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { IngestActivities } from '../activities/index.ts';
import { IngestErrorType, nonRetryableErrorTypes } from '../shared/errors.ts';
import type { ResyncOutcome, ResyncTarget } from '../activities/resync.ts';
import type { ValidationReport } from '../shared/validation.ts';
import { resyncProgressQuery, type ResyncProgress } from '../shared/workflows.ts';
import { validatePipeline } from './validate-pipeline.ts';

export interface ResyncTableInput {
  source: string;
  /** Ranges read at once (default 2). */
  parallel?: number;
  /** Rows per range, roughly (default: catalog/resync-sql.ts's DEFAULT_RANGE_ROWS). */
  rangeRows?: number;
  /** Skip the closing validation (the bench times the load alone). */
  skipValidation?: boolean;
  /** A table another pipeline captures (the bench's own): its declaration and names instead of the live catalog's. */
  target?: ResyncTarget;
  /** When the table's shape moves away from its copy: fail with TableShapeChanged (default), or return with `superseded`. */
  onShapeChange?: 'fail' | 'return';
}

export interface ResyncTableResult extends ResyncOutcome {
  source: string;
  lsnFloor: string;
  ranges: number;
  rowsRead: number;
  streamedCopied: number;
  /** Loaded rows equal to the live row before: they kept its version. */
  keptRows: number;
  /** Transactions open at the start that the load waited for. */
  waitedFor: number;
  validation?: { workflowId: string; outcome: ValidationReport['outcome']; summary: string };
  /** A cancel arrived after the swap had begun: swap and completion finished (the live table is the reloaded copy), validation did not. */
  cancelledAfterSwap?: true;
  /** onShapeChange 'return': why the reload stopped (the table's shape moved); the live copy was not swapped, or, found by the closing validation, must be loaded again. */
  superseded?: string;
}

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes };

const { prepareResync, swapResync, completeResync, abandonResync } = proxyActivities<IngestActivities>({
  // Waiting for open transactions and for ClickHouse to catch up: heartbeated.
  startToCloseTimeout: 30 * 60_000,
  heartbeatTimeout: 60_000,
  retry,
});

const { loadResyncRange } = proxyActivities<IngestActivities>({
  startToCloseTimeout: 30 * 60_000,
  // A killed worker's range is handed to another worker this soon.
  heartbeatTimeout: 20_000,
  retry,
});

export async function resyncTable(input: ResyncTableInput): Promise<ResyncTableResult> {
  if (!input?.source) throw ApplicationFailure.create({ type: IngestErrorType.InvalidInput, nonRetryable: true, message: 'input needs "source": "schema.table"' });
  const { source } = input;
  const target = input.target ? { target: input.target } : {};
  const progress: ResyncProgress = { phase: 'preparing', rangesDone: 0, ranges: 0, rowsLoaded: 0, estimatedRows: 0 };
  setHandler(resyncProgressQuery, () => progress);

  let swapped = false;
  let abandoned = false;
  /** The table's shape moved (see the file header): the shadow goes, then stop as the caller asked. */
  const stop = async (why: string, lsnFloor: string): Promise<ResyncTableResult> => {
    if (!swapped) await CancellationScope.nonCancellable(() => abandonResync({ source, ...target }));
    abandoned = true;
    if (input.onShapeChange !== 'return') throw ApplicationFailure.create({ type: IngestErrorType.TableShapeChanged, nonRetryable: true, message: why });
    progress.phase = 'done';
    return { source, lsnFloor, ranges: progress.ranges, rowsRead: progress.rowsLoaded, streamedCopied: 0, keptRows: 0, waitedFor: 0, loadedRows: 0, changedRows: 0, deletedRows: 0, lateCopied: 0, superseded: why };
  };
  try {
    const plan = await prepareResync({ source, ...(input.rangeRows ? { rangeRows: input.rangeRows } : {}), ...target });
    if (plan.shapeChanged) return await stop(plan.shapeChanged, plan.lsnFloor);
    Object.assign(progress, { phase: 'loading', ranges: plan.ranges.length, estimatedRows: plan.estimatedRows });
    const queue = [...plan.ranges];
    let shapeChanged: string | undefined;
    const worker = async () => {
      for (let r = queue.shift(); r; r = queue.shift()) {
        const loaded = await loadResyncRange({ source, ...target, lsnFloor: plan.lsnFloor, range: r, ranges: plan.ranges.length, rowsBefore: progress.rowsLoaded, estimatedRows: plan.estimatedRows });
        if (loaded.shapeChanged) {
          shapeChanged ??= loaded.shapeChanged;
          queue.length = 0; // no further range: the load is moot
          return;
        }
        progress.rowsLoaded += loaded.rows;
        progress.rangesDone++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(8, input.parallel ?? 2)) }, worker));
    if (shapeChanged) return await stop(shapeChanged, plan.lsnFloor);

    // A cancel delivered with the last range's result: the swap has not begun, so it abandons.
    if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('cancelled before the swap');
    progress.phase = 'swapping';
    // Once begun, the swap and what follows it finish even when the workflow is cancelled.
    const swap = await CancellationScope.nonCancellable(() => swapResync({ source, lsnFloor: plan.lsnFloor, ...(plan.catchUpLsn ? { catchUpLsn: plan.catchUpLsn } : {}), ...target }));
    if (swap.shapeChanged) return await stop(swap.shapeChanged, plan.lsnFloor);
    swapped = true;
    progress.phase = 'completing';
    const outcome = await CancellationScope.nonCancellable(() => completeResync({ source, lsnFloor: plan.lsnFloor, ...target }));
    const result: ResyncTableResult = { source, lsnFloor: plan.lsnFloor, ranges: plan.ranges.length, rowsRead: progress.rowsLoaded, streamedCopied: swap.streamedCopied, keptRows: swap.keptRows, waitedFor: plan.waitedFor, ...outcome };
    if (CancellationScope.current().consideredCancelled) result.cancelledAfterSwap = true;
    else if (!input.skipValidation) {
      progress.phase = 'validating';
      const workflowId = `${workflowInfo().workflowId}-validate-${workflowInfo().runId.slice(0, 8)}`;
      try {
        const report = await executeChild(validatePipeline, { workflowId, args: [plan.spec ? { spec: plan.spec } : { table: source }] });
        result.validation = { workflowId, outcome: report.outcome, summary: report.summary };
      } catch (err) {
        // Cancelled while validating: the reload stands; only the check was cut short.
        if (isCancellation(err)) {
          result.cancelledAfterSwap = true;
          progress.phase = 'done';
          return result;
        }
        // Columns Postgres has and the copy lacks: an ALTER after the swap; the schema change reloads once more.
        const missing = missingColumnsOf(err);
        if (input.onShapeChange !== 'return' || missing.length === 0) throw err;
        progress.phase = 'done';
        return { ...result, superseded: `${source} changed shape in Postgres after the swap: ClickHouse's copy lacks ${missing.join(', ')}` };
      }
    }
    progress.phase = 'done';
    return result;
  } catch (err) {
    // Before the swap nothing live was touched: drop the shadow (abandonResync leaves it if a swap did happen).
    if (!swapped && !abandoned) await CancellationScope.nonCancellable(() => abandonResync({ source, ...target }));
    throw err;
  }
}

/** The columns a failed validation found missing in ClickHouse (its report is the innermost failure's details). */
function missingColumnsOf(err: unknown): string[] {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const details = e instanceof ApplicationFailure ? (e.details?.[0] as Partial<ValidationReport> | undefined) : undefined;
    if (details?.missingColumns) return details.missingColumns;
  }
  return [];
}
