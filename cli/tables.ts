/**
 * astros tables add|list|remove|resume: capture a table on a running pipeline.
 *
 *   astros tables add public.orders [--key id] [--exclude card] [--hash email=SALT] [--mask phone=4] [--truncate note=20]
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
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Client, type Connection, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { deriveOptions, capturedTables } from '../catalog/pipeline.ts';
import { writeHistoryModels } from '../catalog/dbt-history.ts';
import type { ColumnOptions, TableDeclarationInput } from '../catalog/declaration.ts';
import { pipelineNames, tableNames } from '../shared/names.ts';
import { catalogEntries, isCaptured } from '../catalog/store.ts';
import { loadConfigOrExit, type Config, type Endpoints } from '../config/load.ts';
import { gapText, readGaps } from '../pipeline/capture-gaps.ts';
import { lagReport } from '../pipeline/lag.ts';
import { slotProblem, slotState } from '../pipeline/slot-health.ts';
import { type AddTableResult } from '../workflows/add-table.ts';
import { ADD_TABLE_WORKFLOW_TYPE, addTableWorkflowId, REMOVE_TABLE_WORKFLOW_TYPE, removeTableWorkflowId, RESYNC_WORKFLOW_TYPE, resyncProgressQuery, RESUME_TABLE_WORKFLOW_TYPE, resumeTableWorkflowId } from '../shared/workflows.ts';
import type { AppliedChange } from '../activities/schema-changes.ts';
import { tableRetention } from '../catalog/retention.ts';
import { awaitWorkflow, timeoutOption } from './await-workflow.ts';
import { progressBar } from './resync-progress.ts';
import { connectWithWorker } from './worker-check.ts';
import { formatAge } from '../shared/duration.ts';

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
    ...(Object.keys(columns).length > 0 ? { columns } : {}),
  };
}

/** The innermost failure's message (TableNotReady and friends are one line naming the fix). */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** Start the workflow under its fixed id, or attach to the run that is open; wait with progress (`detail` adds the workflow's own). */
export async function runTableWorkflow<T>(
  type: string,
  workflowId: string,
  input: unknown,
  timeoutMs: number,
  detail?: (handle: WorkflowHandle, elapsedMs: number) => Promise<string | undefined>,
): Promise<{ result: T; cfg: Config }> {
  const cfg = loadConfigOrExit();
  const connection: Connection = await connectWithWorker(cfg.temporal, { ifNoWorker: 'fail', consequence: `${type} would never complete` });
  try {
    const client = new Client({ connection, namespace: cfg.temporal.namespace });
    let handle: WorkflowHandle;
    let runId: string;
    try {
      const started = await client.workflow.start(type, { taskQueue: cfg.temporal.taskQueue, workflowId, args: [input], workflowIdConflictPolicy: 'FAIL', workflowIdReusePolicy: 'ALLOW_DUPLICATE' });
      handle = started;
      runId = started.firstExecutionRunId;
      log(`started ${type} ${workflowId} on task queue ${cfg.temporal.taskQueue}`);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      runId = (await client.workflow.getHandle(workflowId).describe()).runId;
      handle = client.workflow.getHandle(workflowId, runId);
      log(`${workflowId} is already running (run ${runId}): attached to it`);
    }
    try {
      const started = Date.now();
      const result = await awaitWorkflow<T>({
        connection,
        handle,
        runId,
        workflowType: type,
        target: cfg.temporal,
        uiUrl: cfg.temporal.uiUrl,
        timeoutMs,
        log,
        afterTimeout: 'Run the same command again to attach to it.',
        ...(detail ? { detail: () => detail(handle, Date.now() - started) } : {}),
      });
      return { result, cfg };
    } catch (err) {
      if (err instanceof WorkflowFailedError) throw new Error(failureMessage(err), { cause: err });
      throw err;
    }
  } finally {
    await connection.close();
  }
}

/** Regenerate the dbt history models from the live catalog (best effort: the table is captured either way). */
async function writeModels(e: Endpoints): Promise<void> {
  const db = new pg.Client({ connectionString: e.databaseUrl, application_name: 'astros-tables' });
  await db.connect();
  try {
    for (const f of writeHistoryModels(await capturedTables(db, deriveOptions(e), () => undefined))) log(`dbt model written: ${f}`);
  } finally {
    await db.end();
  }
}

export interface TableRow {
  source: string;
  state: string;
  origin: string;
  rows: number | null;
  lag: string;
  lastValidation: string;
  error?: string | null;
  /** A blocked table: since when, and how long its topic still keeps the events it has not applied. */
  blocked?: { since: string; keptFor: string };
  /** A table Postgres no longer has under its name (dropped or renamed): since when. */
  dropped?: { since: string };
  /** A captured table while the pipeline's replication slot is lost or missing: the failure, with the fix. */
  notCapturing?: string;
  /** The newest capture gap recorded for the table (astros.capture_gaps), in words. */
  captureGap?: string;
}

/** Each table of the live catalog with its state, live rows in ClickHouse, lag and last validation. */
export async function tableRows(e: Endpoints, opts: { all?: boolean } = {}): Promise<TableRow[]> {
  const db = new pg.Client({ connectionString: e.databaseUrl, application_name: 'astros-tables' });
  await db.connect();
  const ch = createClient({ url: e.clickhouseUrl, request_timeout: 30_000, log: { level: ClickHouseLogLevel.OFF } });
  try {
    const entries = (await catalogEntries(db)).filter((x) => opts.all || x.state !== 'removed');
    const names = entries.map((x) => tableNames(x.declaration.source, { groupPrefix: e.groupPrefix }));
    const captured = names.filter((_, i) => isCaptured(entries[i]!.state));
    const lag = await lagReport({
      postgresUrl: e.databaseUrl,
      kafkaBrokers: e.kafkaBrokers,
      clickhouseUrl: e.clickhouseUrl,
      groupPrefix: e.groupPrefix,
      tables: captured.map((n) => ({ topic: n.topic, group: n.group, table: n.current })),
    }).catch(() => undefined);
    const notCapturing = slotProblem(await slotState(db, pipelineNames.slot));
    const gaps = await readGaps(ch, entries.map((x) => x.declaration.source)).catch(() => []);
    const { rows: reports } = await db.query<{ source_table: string; outcome: string; finished_at: Date; summary: string }>(
      `select distinct on (source_table) source_table, outcome, finished_at, summary from validation_reports order by source_table, finished_at desc`,
    );
    const out: TableRow[] = [];
    for (const [i, x] of entries.entries()) {
      const n = names[i]!;
      const rows = await ch
        .query({ query: `SELECT count() AS n FROM ${n.current} FINAL WHERE is_deleted = 0`, format: 'JSONEachRow' })
        .then(async (rs) => Number((await rs.json<{ n: string }>())[0]?.n ?? 0))
        .catch(() => null);
      const k = lag?.kafka.find((r) => r.topic === n.topic);
      const ckh = lag?.clickhouse.find((r) => r.table === n.current);
      const v = reports.find((r) => r.source_table === x.declaration.source);
      const gap = gaps.find((g) => g.sourceTable === x.declaration.source);
      out.push({
        source: x.declaration.source,
        state: x.state,
        origin: x.origin,
        rows,
        lag: !isCaptured(x.state) ? '-' : k ? `${k.lag} msg${ckh?.newestCommit ? `, newest commit ${ckh.newestCommit}` : ''}` : 'n/a',
        lastValidation: v ? `${v.outcome} ${v.finished_at.toISOString()}` : 'never',
        ...(x.lastError ? { error: x.lastError } : {}),
        ...(notCapturing && isCaptured(x.state) ? { notCapturing } : {}),
        ...(gap ? { captureGap: gapText(gap) } : {}),
        ...(x.state === 'blocked'
          ? { blocked: { since: x.updatedAt, keptFor: formatAge(tableRetention(x.declaration.retention, e.retention).topicMs - (Date.now() - Date.parse(x.updatedAt))) } }
          : {}),
        ...(x.state === 'dropped' ? { dropped: { since: x.updatedAt } } : {}),
      });
    }
    return out;
  } finally {
    await ch.close();
    await db.end();
  }
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
    .addOption(timeoutOption())
    .action(async (source: string, o: AddOptions) => {
      const { result, cfg } = await runTableWorkflow<AddTableResult>(ADD_TABLE_WORKFLOW_TYPE, addTableWorkflowId(source), declarationFromOptions(source, o), o.timeout, loadProgress);
      await writeModels(cfg).catch((err: unknown) => log(`warning: dbt models not written (${failureMessage(err)}); npm run dbt writes them`));
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
      // A lost or missing slot stops every table at once: the headline, as in the lag report.
      const failed = rows.find((r) => r.notCapturing)?.notCapturing;
      if (failed) console.log(`FAILED: ${failed}`);
      console.log(`${'table'.padEnd(w)}  ${'state'.padEnd(9)}  ${'rows'.padStart(9)}  lag / last validation`);
      for (const r of rows) {
        const blocked = r.blocked
          ? `; blocked since ${r.blocked.since}, its unapplied changes stay in Kafka for another ${r.blocked.keptFor}`
          : r.dropped
            ? `; not captured since ${r.dropped.since}`
            : '';
        console.log(`${r.source.padEnd(w)}  ${r.state.padEnd(9)}  ${String(r.rows ?? '?').padStart(9)}  ${r.lag}; validation ${r.lastValidation}${blocked}${r.error ? `; error: ${r.error}` : ''}`);
        if (r.notCapturing) console.log(`${''.padEnd(w)}  NOT CAPTURING: the replication slot cannot be read (npm run recover)`);
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
      const { result, cfg } = await runTableWorkflow<{ source: string; dropped: string[] }>(REMOVE_TABLE_WORKFLOW_TYPE, removeTableWorkflowId(source), { source, drop: o.drop === true }, o.timeout);
      await writeModels(cfg).catch(() => undefined);
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
      const { result } = await runTableWorkflow<AppliedChange>(RESUME_TABLE_WORKFLOW_TYPE, resumeTableWorkflowId(source), { source }, o.timeout, loadProgress);
      console.log(`${result.source}: streaming again (${result.steps.join('; ') || 'no change to apply'}; table loaded again)`);
    });

  return tables;
}
