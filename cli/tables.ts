/**
 * astros tables add|list|remove|resume: capture a table on a running pipeline.
 *
 *   astros tables add public.orders [--key id] [--exclude card] [--hash email=SALT] [--mask phone=4] [--truncate note=20] [--partitions 3] [--group G]
 *   astros tables list [--json]           state, and why for a blocked or dropped table
 *   astros tables remove public.orders [--drop]
 *   astros tables resume public.orders    after a refused schema change was fixed
 *
 * add and remove run the workflows addTable / removeTable (also startable
 * from the Web UI) and wait for them like ingest and validate do: they check
 * first that Temporal answers and a worker polls (exit 5), print progress
 * every 10 s (the load's progress bar among it), and stop waiting at --timeout
 * (exit 6; the run goes on, the same command attaches to it). A table that
 * cannot be captured as it is fails with one line naming the fix (exit 1).
 * list reads the live catalog, the lag and the last validation directly.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { Command, InvalidArgumentError } from 'commander';
import type { ColumnOptions, TableDeclarationInput } from '../catalog/declaration.ts';
import { loadConfigOrExit } from '../config/load.ts';
import type { AppliedChange } from '../activities/schema-changes.ts';
import type { AddTableResult } from '../workflows/add-table.ts';
import type { RemoveTableResult } from '../workflows/remove-table.ts';
import { ADD_TABLE_WORKFLOW_TYPE, addTableWorkflowId, REMOVE_TABLE_WORKFLOW_TYPE, removeTableWorkflowId, RESYNC_WORKFLOW_TYPE, resyncProgressQuery, RESUME_TABLE_WORKFLOW_TYPE, resumeTableWorkflowId } from '../shared/workflows.ts';
import { timeoutOption } from './await-workflow.ts';
import { checkGroupName, DEFAULT_GROUP } from '../shared/names.ts';
import { progressBar } from './resync-progress.ts';
import { runWorkflow } from './run-workflow.ts';
import { tableRows } from './table-rows.ts';

const log = (m: string) => process.stderr.write(`tables: ${m}\n`);
const list = (raw: string, prev: string[] = []): string[] => [...prev, ...raw.split(',').map((s) => s.trim()).filter(Boolean)];

/** `col=value` (repeatable) -> [col, value]. */
function pair(raw: string, prev: [string, string][] = []): [string, string][] {
  const m = /^([a-z_][a-z0-9_$]*)=(.+)$/.exec(raw);
  if (!m) throw new InvalidArgumentError('expected column=value');
  return [...prev, [m[1]!, m[2]!]];
}

interface AddOptions {
  key?: string[];
  exclude?: string[];
  hash?: [string, string][];
  mask?: [string, string][];
  truncate?: [string, string][];
  description?: string;
  partitions?: number;
  group?: string;
  timeout: number;
}

/** The declaration the options describe (the catalog's shape, see catalog/README.md). */
export function declarationFromOptions(source: string, o: Omit<AddOptions, 'timeout'>): TableDeclarationInput {
  const columns: Record<string, ColumnOptions> = {};
  for (const [c, v] of o.hash ?? []) {
    const [salt, algorithm] = v.split(':');
    columns[c] = { hash: { salt: salt!, algorithm: algorithm === 'SHA-512' ? 'SHA-512' : 'SHA-256' } };
  }
  for (const [c, v] of o.mask ?? []) columns[c] = { mask: Number(v) };
  for (const [c, v] of o.truncate ?? []) columns[c] = { truncate: Number(v) };
  return {
    source,
    ...(o.key ? { key: o.key } : {}),
    ...(o.exclude ? { exclude: o.exclude } : {}),
    ...(o.description ? { description: o.description } : {}),
    ...(o.partitions !== undefined ? { partitions: o.partitions } : {}),
    // The default group is every declaration's without one: the declaration stays as it was before groups.
    ...(o.group !== undefined && o.group !== DEFAULT_GROUP ? { group: o.group } : {}),
    ...(Object.keys(columns).length > 0 ? { columns } : {}),
  };
}

/** What the workflow wrote of the dbt history models (a run started before it wrote them says nothing). */
function dbtModels(m: AddTableResult['dbtModels']): void {
  for (const f of m?.written ?? []) log(`dbt model written: ${f}`);
  if (m?.warning) log(`warning: ${m.warning}`);
}

/** The running load's progress bar (the add's child resyncTable), once it has started. */
async function loadProgress(handle: WorkflowHandle, elapsedMs: number): Promise<string | undefined> {
  const child = (await handle.describe()).raw.pendingChildren?.find((c) => c.workflowTypeName === RESYNC_WORKFLOW_TYPE);
  if (!child?.workflowId) return undefined;
  const progress = await handle.client.getHandle(child.workflowId, child.runId ?? undefined).query(resyncProgressQuery);
  return `load: ${progressBar(progress, elapsedMs)}`;
}

export function buildTablesCommand(): Command {
  const tables = new Command('tables').description('Capture tables on a running pipeline: add, list, remove (see catalog/README.md).');

  tables
    .command('add')
    .description(
      `Capture a table (workflow ${ADD_TABLE_WORKFLOW_TYPE}): check it, declare it in the live catalog, apply it (publication, topic, ClickHouse objects, ` +
        'connector), load its existing rows (resyncTable) while changes keep streaming, and end when validation agrees. Idempotent: run again to resume or attach.',
    )
    .argument('<table>', 'schema.table')
    .option('--key <cols>', 'key columns when the table has no primary key', list)
    .option('--exclude <cols>', 'columns left out (never leave Postgres)', list)
    .option('--hash <col=salt[:SHA-512]>', 'send the hex SHA-256 (or SHA-512) of salt||value instead of the value (repeatable)', pair)
    .option('--mask <col=N>', "send N '*' instead of the value (repeatable)", pair)
    .option('--truncate <col=N>', 'send the first N characters (repeatable)', pair)
    .option('--description <text>', 'what the table holds (dbt docs)')
    .option('--partitions <n>', "partitions of the table's topic (default KAFKA_TOPIC_PARTITIONS; fixed once the topic exists)", Number)
    .option('--group <name>', `table group: its own publication, slot and connector, made by this add when new (default ${DEFAULT_GROUP}; astros groups list)`, (v: string) => {
      try {
        return checkGroupName(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    })
    .addOption(timeoutOption())
    .action(async (source: string, o: AddOptions) => {
      const { result } = await runWorkflow<AddTableResult>(ADD_TABLE_WORKFLOW_TYPE, addTableWorkflowId(source), declarationFromOptions(source, o), o.timeout, log, loadProgress);
      dbtModels(result.dbtModels);
      console.log(`${result.source}: streaming (key ${result.key.join(', ')}; ${result.loadedRows} rows loaded${result.loads > 1 ? `, in the second of ${result.loads} loads` : ''})`);
      console.log(`validation: ${result.validation?.summary ?? 'not run (the load was cancelled after its swap): npm run validate -- --table ' + result.source}`);
    });

  tables
    .command('list')
    .description(
      'Each table of the catalog: state (active, adding, streaming, blocked, dropped), live rows in ClickHouse, lag, last validation, ' +
        'why a blocked or dropped one stopped, the newest capture gap; first, FAILED when the replication slot is lost or missing.',
    )
    .option('--all', 'removed tables too')
    .option('--json', 'machine-readable output')
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const rows = await tableRows(loadConfigOrExit(), o);
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      const w = Math.max(5, ...rows.map((r) => r.source.length));
      // A lost or missing slot stops every table of its group at once: the headline, as in the lag report.
      for (const failed of new Set(rows.flatMap((r) => (r.notCapturing ? [r.notCapturing] : [])))) console.log(`FAILED: ${failed}`);
      const gw = Math.max(5, ...rows.map((r) => r.group.length));
      console.log(`${'table'.padEnd(w)}  ${'state'.padEnd(9)}  ${'rows'.padStart(9)}  ${'group'.padEnd(gw)}  lag / last validation`);
      for (const r of rows) {
        const blocked = r.blocked
          ? `; blocked since ${r.blocked.since}, its unapplied changes stay in Kafka for another ${r.blocked.keptFor}`
          : r.dropped
            ? `; not captured since ${r.dropped.since}`
            : '';
        console.log(`${r.source.padEnd(w)}  ${r.state.padEnd(9)}  ${String(r.rows ?? '?').padStart(9)}  ${r.group.padEnd(gw)}  ${r.lag}; validation ${r.lastValidation}${blocked}${r.error ? `; error: ${r.error}` : ''}`);
        if (r.notCapturing) console.log(`${''.padEnd(w)}  NOT CAPTURING: its group's replication slot cannot be read (npm run recover)`);
        if (r.captureGap) console.log(`${''.padEnd(w)}  capture gap: ${r.captureGap}`);
      }
    });

  tables
    .command('remove')
    .description(`Stop capturing a table (workflow ${REMOVE_TABLE_WORKFLOW_TYPE}): catalog state removed, publication and connector list updated. ClickHouse keeps its data unless --drop.`)
    .argument('<table>', 'schema.table')
    .option('--drop', 'also drop its ClickHouse queue, views, change log and current state')
    .addOption(timeoutOption())
    .action(async (source: string, o: { drop?: boolean; timeout: number }) => {
      const { result } = await runWorkflow<RemoveTableResult>(REMOVE_TABLE_WORKFLOW_TYPE, removeTableWorkflowId(source), { source, drop: o.drop === true }, o.timeout, log);
      dbtModels(result.dbtModels);
      for (const m of result.groups ?? []) console.log(m);
      console.log(`${result.source}: removed${result.dropped.length ? `; dropped ${result.dropped.join(', ')}` : ' (ClickHouse data kept; --drop drops it)'}`);
    });

  tables
    .command('resume')
    .description(
      `After a refused schema change was fixed (the refusal names the fix): apply the table's current shape to ClickHouse, read its waiting changes again, reload it, and let it flow (workflow ${RESUME_TABLE_WORKFLOW_TYPE}).`,
    )
    .argument('<table>', 'schema.table')
    .addOption(timeoutOption())
    .action(async (source: string, o: { timeout: number }) => {
      const { result } = await runWorkflow<AppliedChange>(RESUME_TABLE_WORKFLOW_TYPE, resumeTableWorkflowId(source), { source }, o.timeout, log, loadProgress);
      console.log(`${result.source}: streaming again (${result.steps.join('; ') || 'no change to apply'}; table loaded again)`);
    });

  return tables;
}
