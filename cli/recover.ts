/**
 * astros recover: after Postgres invalidated (or lost) the connector's
 * replication slot — the lag report, the monitor and validation say so — bring
 * the stream back without a gap (workflow recoverPipeline, also startable from
 * the Web UI): new slot, the connector's offsets reset, every captured table
 * resynced and validated. Waits like the other commands (exit 5 without a
 * worker, 6 at --timeout; the same command attaches again).
 */
import { Command } from 'commander';
import { RECOVER_WORKFLOW_ID, RECOVER_WORKFLOW_TYPE, type RecoverPipelineResult } from '../workflows/recover-pipeline.ts';
import { timeoutOption } from './await-workflow.ts';
import { runTableWorkflow } from './tables.ts';

const list = (raw: string, prev: string[] = []): string[] => [...prev, ...raw.split(',').map((s) => s.trim()).filter(Boolean)];

export function buildRecoverCommand(): Command {
  return new Command('recover')
    .description(
      `Recover from a lost replication slot (workflow ${RECOVER_WORKFLOW_TYPE}): stop the connector, drop the dead slot, reset its offsets, ` +
        'resume on a new slot, then resync every captured table from Postgres and validate it. Safe to run on a healthy pipeline (it only rebuilds).',
    )
    .option('--connector <name>', 'the Kafka Connect connector (default: the pipeline’s)')
    .option('--table <schema.table>', 'resync only these tables (repeatable or comma-separated; default: every captured table)', list)
    .addOption(timeoutOption())
    .action(async (o: { connector?: string; table?: string[]; timeout: number }) => {
      const input = { ...(o.connector ? { connector: o.connector } : {}), ...(o.table ? { tables: o.table } : {}) };
      const { result } = await runTableWorkflow<RecoverPipelineResult>(RECOVER_WORKFLOW_TYPE, RECOVER_WORKFLOW_ID, input, o.timeout);
      console.log(`slot ${result.reset.slot}: was ${result.reset.before}${result.reset.droppedSlot ? ', dropped' : ''}; the connector streams from a new slot`);
      for (const t of result.tables) console.log(`${t.source}: resynced ${t.loadedRows.toLocaleString('en-US')} rows; ${t.validation ?? 'not validated'}`);
    });
}
