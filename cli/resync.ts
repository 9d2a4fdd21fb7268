/**
 * astros resync <table>: rebuild a captured table's ClickHouse copy straight
 * from Postgres (workflow resyncTable, also startable from the Web UI), while
 * changes keep streaming. Checks first that a worker polls (exit 5), prints a
 * progress bar every 10 s (rows, ranges, rate, ETA), stops waiting at
 * --timeout (exit 6; the run goes on, the same command attaches to it). A run
 * cancelled before its swap leaves the live copy as it was (exit 1); one
 * cancelled once the swap had begun finished it (exit 7, said so).
 */
import { Command, InvalidArgumentError } from 'commander';
import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { type ResyncTableResult } from '../workflows/resync-table.ts';
import { RESYNC_WORKFLOW_TYPE, resyncProgressQuery, resyncWorkflowId } from '../shared/workflows.ts';
import { progressBar } from './resync-progress.ts';
import { DEFAULT_RANGE_ROWS } from '../catalog/resync-sql.ts';
import { timeoutOption } from './await-workflow.ts';
import { runWorkflow } from './run-workflow.ts';

/** Exit status of a resync cancelled after its swap began: the swap and completion are done, validation did not run. */
export const EXIT_CANCELLED_AFTER_SWAP = 7;

const log = (m: string) => process.stderr.write(`resync: ${m}\n`);

/** The run ended cancelled (which, since the swap cannot be cancelled, means before it). */
const cancelledRun = (err: unknown): boolean => err instanceof Error && err.cause instanceof WorkflowFailedError && err.cause.cause instanceof CancelledFailure;

const positive = (raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

export function buildResyncCommand(): Command {
  return new Command('resync')
    .description(
      `Rebuild a captured table's ClickHouse copy from Postgres (workflow ${RESYNC_WORKFLOW_TYPE}): parallel block ranges loaded into a shadow table, ` +
        'swapped in atomically, the change history given only what differed, then validation. Changes keep streaming. Idempotent: run again to attach.',
    )
    .argument('<table>', 'schema.table')
    .option('--parallel <n>', 'ranges read at once', positive, 2)
    .option('--range-rows <n>', 'rows per range, roughly', positive, DEFAULT_RANGE_ROWS)
    .addOption(timeoutOption())
    .action(async (source: string, o: { parallel: number; rangeRows: number; timeout: number }) => {
      const detail = async (handle: WorkflowHandle, elapsedMs: number) => progressBar(await handle.query(resyncProgressQuery), elapsedMs);
      const { result } = await runWorkflow<ResyncTableResult>(RESYNC_WORKFLOW_TYPE, resyncWorkflowId(source), { source, parallel: o.parallel, rangeRows: o.rangeRows }, o.timeout, log, detail).catch(
        (err: unknown) => {
          if (!cancelledRun(err)) throw err;
          throw new Error(`${source}: the resync was cancelled before its swap: the live copy is as it was (the shadow copy is dropped)`, { cause: err });
        },
      );
      console.log(
        `${result.source}: resynced ${result.loadedRows.toLocaleString('en-US')} rows in ${result.ranges} ranges (version ${result.lsnFloor}); ` +
          `${result.streamedCopied + result.lateCopied} streamed meanwhile kept; ${result.keptRows ?? 0} unchanged (their version kept); history: ${result.changedRows} changed, ${result.deletedRows} deleted`,
      );
      if (result.validation) console.log(`validation: ${result.validation.summary}`);
      if (result.cancelledAfterSwap) {
        console.log(
          `${result.source}: cancelled after the swap had begun, too late to stop it: the swap is done and the live table is the reloaded copy; ` +
            `validation did not run (npm run validate -- --table ${result.source})`,
        );
        process.exitCode = EXIT_CANCELLED_AFTER_SWAP;
      }
    });
}
