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
import { checkGroupName, DEFAULT_GROUP } from '../shared/names.ts';
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
        `make a new slot and record the capture gap (${captureGapsTable}), resume, then resync every captured table of the group from Postgres and validate it. ` +
        'After a failover, point the pipeline at the new primary first (DATABASE_URL, and the Connect worker\'s ASTROS_PG_HOST/ASTROS_PG_PORT). ' +
        'Safe to run on a healthy pipeline (the slot is kept; it only rebuilds).',
    )
    .option('--group <name>', 'the table group whose slot is lost (default: the default group; astros groups list); the other groups keep streaming')
    .option('--connector <name>', 'the Kafka Connect connector (default: the group’s)')
    .option('--table <schema.table>', 'resync only these tables (repeatable or comma-separated; default: every captured table of the group)', list)
    .addOption(timeoutOption())
    .action(async (o: { group?: string; connector?: string; table?: string[]; timeout: number }) => {
      const input = { ...(o.group ? { group: checkGroupName(o.group) } : {}), ...(o.connector ? { connector: o.connector } : {}), ...(o.table ? { tables: o.table } : {}) };
      // One recovery per group at a time; the default group's keeps the id it always had.
      const id = o.group && o.group !== DEFAULT_GROUP ? `${RECOVER_WORKFLOW_ID}-${o.group}` : RECOVER_WORKFLOW_ID;
      const { result } = await runWorkflow<RecoverPipelineResult>(RECOVER_WORKFLOW_TYPE, id, input, o.timeout, log);
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
