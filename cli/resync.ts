/**
 * astros resync <table>: rebuild a captured table's ClickHouse copy straight
 * from Postgres (workflow resyncTable, also startable from the Web UI), while
 * changes keep streaming. Checks first that a worker polls (exit 5), prints a
 * progress bar every 10 s (rows, ranges, rate, ETA), stops waiting at
 * --timeout (exit 6; the run goes on, the same command attaches to it).
 */
import { Command, InvalidArgumentError } from 'commander';
import type { WorkflowHandle } from '@temporalio/client';
import { RESYNC_WORKFLOW_TYPE, resyncProgressQuery, resyncWorkflowId, type ResyncTableResult } from '../workflows/resync-table.ts';
import { progressBar } from './resync-progress.ts';
import { timeoutOption } from './await-workflow.ts';
import { runTableWorkflow } from './tables.ts';

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
    .option('--range-rows <n>', 'rows per range, roughly', positive, 100_000)
    .addOption(timeoutOption())
    .action(async (source: string, o: { parallel: number; rangeRows: number; timeout: number }) => {
      const detail = async (handle: WorkflowHandle, elapsedMs: number) => progressBar(await handle.query(resyncProgressQuery), elapsedMs);
      const { result } = await runTableWorkflow<ResyncTableResult>(RESYNC_WORKFLOW_TYPE, resyncWorkflowId(source), { source, parallel: o.parallel, rangeRows: o.rangeRows }, o.timeout, detail);
      console.log(
        `${result.source}: resynced ${result.loadedRows.toLocaleString('en-US')} rows in ${result.ranges} ranges (version ${result.lsnFloor}); ` +
          `${result.streamedCopied + result.lateCopied} streamed meanwhile kept; ${result.keptRows ?? 0} unchanged (their version kept); history: ${result.changedRows} changed, ${result.deletedRows} deleted`,
      );
      if (result.validation) console.log(`validation: ${result.validation.summary}`);
    });
}
