/**
 * astros recover: after Postgres invalidated (or lost) the connector's
 * replication slot — the lag report, the monitor and validation say so — bring
 * the stream back (workflow recoverPipeline, also startable from the Web UI):
 * new slot, the connector's offsets reset, the capture gap recorded (the
 * changes committed while no slot kept the WAL cannot come back; each table's
 * reload brings their net result), every captured table resynced and
 * validated. Waits like the other commands (exit 5 without a
 * worker, 6 at --timeout; the same command attaches again).
 */
import { Command } from 'commander';
import { formatLsn } from '../shared/lsn.ts';
import { captureGapsTable } from '../connectors/clickhouse/capture-gaps.ts';
import { type RecoverPipelineResult } from '../workflows/recover-pipeline.ts';
import { RECOVER_WORKFLOW_ID, RECOVER_WORKFLOW_TYPE } from '../shared/workflows.ts';
import { timeoutOption } from './await-workflow.ts';
import { runWorkflow } from './run-workflow.ts';

const log = (m: string) => process.stderr.write(`recover: ${m}\n`);
const list = (raw: string, prev: string[] = []): string[] => [...prev, ...raw.split(',').map((s) => s.trim()).filter(Boolean)];

export function buildRecoverCommand(): Command {
  return new Command('recover')
    .description(
      `Recover from a lost or missing replication slot (workflow ${RECOVER_WORKFLOW_TYPE}): stop the connector, drop the dead slot, reset its offsets, ` +
        `make a new slot and record the capture gap (${captureGapsTable}), resume, then resync every captured table from Postgres and validate it. ` +
        'After a failover, point the pipeline at the new primary first (DATABASE_URL, and the Connect worker\'s ASTROS_PG_HOST/ASTROS_PG_PORT). ' +
        'Safe to run on a healthy pipeline (the slot is kept; it only rebuilds).',
    )
    .option('--connector <name>', 'the Kafka Connect connector (default: the pipeline’s)')
    .option('--table <schema.table>', 'resync only these tables (repeatable or comma-separated; default: every captured table)', list)
    .addOption(timeoutOption())
    .action(async (o: { connector?: string; table?: string[]; timeout: number }) => {
      const input = { ...(o.connector ? { connector: o.connector } : {}), ...(o.table ? { tables: o.table } : {}) };
      const { result } = await runWorkflow<RecoverPipelineResult>(RECOVER_WORKFLOW_TYPE, RECOVER_WORKFLOW_ID, input, o.timeout, log);
      const { reset } = result;
      console.log(
        reset.gap
          ? `slot ${reset.slot}: was ${reset.before}${reset.droppedSlot ? ', dropped' : ''}; the connector streams from a new slot`
          : `slot ${reset.slot}: was ${reset.before}, kept (nothing was lost); the tables are resynced`,
      );
      if (reset.gap) {
        const g = reset.gap;
        console.log(
          `capture gap: changes committed after ${formatLsn(g.fromLsn)} and before ${formatLsn(g.toLsn)} were not captured (${g.reason}); ` +
            `recorded in ${captureGapsTable} for ${g.tables.length} table(s)${g.advancedWal ? '; the new primary\'s WAL position was moved past the changes captured before the failover' : ''}`,
        );
      }
      for (const t of result.tables) {
        console.log(
          `${t.source}: resynced ${t.loadedRows.toLocaleString('en-US')} rows at ${formatLsn(t.lsnFloor)} (${t.changedRows} changed, ${t.deletedRows} deleted, ${t.keptRows} unchanged); ${t.validation ?? 'not validated'}`,
        );
      }
    });
}
