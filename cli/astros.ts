/**
 * astros: command-line client of the ingest pipeline.
 *
 *   npx tsx cli/astros.ts --help
 *   npx tsx cli/astros.ts ingest [--source URL]      start (or attach to) a run, wait, print the summary
 *   npx tsx cli/astros.ts schedule [--interval 5m]   create or update the Temporal Schedule
 *   npx tsx cli/astros.ts migrate                    apply pending Postgres migrations
 *   npx tsx cli/astros.ts tables add|list|remove     capture a table on the running pipeline (cli/tables.ts)
 *   npx tsx cli/astros.ts groups list                table groups: slot, connector, lag, tables (cli/groups.ts)
 *   npx tsx cli/astros.ts resync <table>             rebuild a table's ClickHouse copy from Postgres (cli/resync.ts)
 *   npx tsx cli/astros.ts recover                    after a lost replication slot: new slot, every table resynced (cli/recover.ts)
 *   npx tsx cli/astros.ts dead-letters list|replay   kept records of the ingest and the CDC path; replay after a fix
 *   npx tsx cli/astros.ts backup create|list|verify|restore|prune|schedule   back up and restore the pipeline (cli/backup.ts)
 *
 * ingest and validate need a running worker on TASK_QUEUE (npm run worker):
 * they check at once and exit 5 if Temporal does not answer or no worker
 * polls; while waiting they print progress, and stop waiting after --timeout
 * with exit 6 (the run goes on). A failed run exits 1.
 */
import './closed-pipe.ts';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure, Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { Command, InvalidArgumentError, Option } from 'commander';
import { buildValidateCommand } from './validate.ts';
import { buildTablesCommand } from './tables.ts';
import { buildGroupsCommand } from './groups.ts';
import { buildResyncCommand } from './resync.ts';
import { buildRecoverCommand } from './recover.ts';
import { buildDeadLettersCommand } from './dead-letters.ts';
import { buildBackupCommand } from './backup.ts';
import { ConfigError, MigrationError } from '../shared/errors.ts';
import { loadConfigOrExit, type Config } from '../config/load.ts';
import { migrate } from '../connectors/postgres/migrate.ts';
import { INGEST_WORKFLOW_ID, INGEST_WORKFLOW_TYPE, VALIDATE_SCHEDULE_ID, VALIDATE_WORKFLOW_TYPE } from '../shared/workflows.ts';
import { awaitWorkflow, EXIT_TIMEOUT, timeoutOption, WaitTimeoutError } from './await-workflow.ts';
import { deleteIngestSchedule, startOrAttachIngest, upsertIngestSchedule } from './client.ts';
import { connectWithWorker, EXIT_NOT_READY, TemporalNotReadyError } from './worker-check.ts';

const warn = (message: string) => process.stderr.write(`astros: ${message}\n`);

/**
 * Connect (TemporalNotReadyError within seconds when Temporal does not
 * answer) and check that a worker polls TASK_QUEUE: `ifNoWorker` 'fail' for
 * commands that wait for a run, 'warn' for those that only start or schedule one.
 */
async function withClient<T>(
  check: { ifNoWorker: 'fail' | 'warn'; consequence: string },
  fn: (client: Client, cfg: Config, connection: Connection) => Promise<T>,
): Promise<T> {
  const cfg = loadConfigOrExit();
  const connection = await connectWithWorker(cfg.temporal, { ...check, warn });
  try {
    return await fn(new Client({ connection, namespace: cfg.temporal.namespace }), cfg, connection);
  } finally {
    await connection.close();
  }
}

/** The innermost failure of a chain (WorkflowFailed -> ActivityFailure -> ApplicationFailure), with its type. */
export function rootCause(err: Error): string {
  let e: Error = err;
  while (e.cause instanceof Error) e = e.cause;
  return e instanceof ApplicationFailure && e.type ? `${e.type}: ${e.message}` : e.message;
}

function httpUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return value;
  } catch {
    // fall through
  }
  throw new InvalidArgumentError('expected an http(s) URL');
}

function duration(value: string): string {
  if (!/^[1-9][0-9]*(ms|s|m|h|d)$/.test(value)) throw new InvalidArgumentError('expected a duration such as 30s, 5m, 1h');
  return value;
}

export function buildProgram(): Command {
  const program = new Command()
    .name('astros')
    .description('Client of the astronauts ingest pipeline (Temporal + Postgres). Settings come from the environment; see .env.example.')
    .showHelpAfterError();

  program
    .command('ingest')
    .description(
      `Start workflow ${INGEST_WORKFLOW_TYPE} (id ${INGEST_WORKFLOW_ID}), wait for it and print its summary as JSON. ` +
        'If a run with that id is still open, attach to it instead of starting an overlapping one. ' +
        'Needs a running worker polling TASK_QUEUE (npm run worker, or the dev stack\'s worker component): without one, or when ' +
        `Temporal does not answer, it exits at once with status ${EXIT_NOT_READY}. While waiting it prints progress every 10 s; ` +
        `after --timeout it stops waiting with status ${EXIT_TIMEOUT} (the run goes on). A failed run exits 1.`,
    )
    .option('--source <url>', 'source URL for this run (default: the worker\'s ASTROS_SOURCE_URL)', httpUrl)
    .option('--workflow-id <id>', 'workflow id (runs with the same id never overlap)', INGEST_WORKFLOW_ID)
    .option('--run-key <key>', 'idempotency key of the Postgres write (default: the run id); an already-applied key applies nothing')
    .option('--no-wait', 'print the workflow and run id and return without waiting (only warns when no worker polls)')
    .addOption(timeoutOption())
    .action(async (opts: { source?: string; workflowId: string; runKey?: string; wait: boolean; timeout: number }) => {
      const check = opts.wait
        ? { ifNoWorker: 'fail' as const, consequence: `${INGEST_WORKFLOW_TYPE} would never complete` }
        : { ifNoWorker: 'warn' as const, consequence: `the run waits until one does` };
      await withClient(check, async (client, cfg, connection) => {
        const run = await startOrAttachIngest(client, {
          taskQueue: cfg.temporal.taskQueue,
          workflowId: opts.workflowId,
          input: {
            ...(opts.source !== undefined ? { sourceUrl: opts.source } : {}),
            ...(opts.runKey !== undefined ? { runKey: opts.runKey } : {}),
          },
        });
        console.error(
          run.started
            ? `started ${opts.workflowId} run ${run.runId} on task queue ${cfg.temporal.taskQueue}`
            : `a run of ${opts.workflowId} is already in progress (run ${run.runId}); attached to it instead of starting another`,
        );
        if (!opts.wait) return;
        try {
          const summary = await awaitWorkflow({
            connection,
            handle: run.handle,
            runId: run.runId,
            workflowType: INGEST_WORKFLOW_TYPE,
            target: cfg.temporal,
            uiUrl: cfg.temporal.uiUrl,
            timeoutMs: opts.timeout,
            afterTimeout: `Run the same command again to attach to it (workflow id ${opts.workflowId}).`,
            log: warn,
          });
          console.log(JSON.stringify(summary, null, 2));
        } catch (err) {
          if (err instanceof WorkflowFailedError) throw new Error(`run ${run.runId} failed: ${rootCause(err)}`, { cause: err });
          throw err;
        }
      });
    });

  program
    .command('schedule')
    .description(
      'Create the Temporal Schedule that runs ingestAstronauts (or, with --workflow validate, validatePipeline) periodically, ' +
        'or update it in place if it exists (overlap policy SKIP). It appears under Schedules in the Web UI. ' +
        'Scheduled runs need a running worker polling TASK_QUEUE (npm run worker); without one this warns and goes on. ' +
        `Exits ${EXIT_NOT_READY} at once when Temporal does not answer.`,
    )
    .addOption(new Option('--workflow <name>', 'what the schedule runs').choices(['ingest', 'validate']).default('ingest'))
    .option('--interval <duration>', 'how often to ingest (default: ASTROS_SCHEDULE_INTERVAL)', duration)
    .option('--schedule-id <id>', 'schedule id (default: ASTROS_SCHEDULE_ID)')
    .option('--source <url>', 'source URL for scheduled runs (default: the worker\'s ASTROS_SOURCE_URL)', httpUrl)
    .option('--paused', 'create it paused, or pause it')
    .option('--resume', 'unpause it')
    .option('--delete', 'delete the schedule instead')
    .action(async (opts: { workflow: 'ingest' | 'validate'; interval?: string; scheduleId?: string; source?: string; paused?: boolean; resume?: boolean; delete?: boolean }) => {
      const check = { ifNoWorker: 'warn' as const, consequence: 'scheduled runs wait until one does' };
      await withClient(check, async (client, cfg) => {
        const validate = opts.workflow === 'validate';
        const scheduleId = opts.scheduleId ?? (validate ? VALIDATE_SCHEDULE_ID : cfg.schedule.id);
        if (opts.delete) {
          const deleted = await deleteIngestSchedule(client, scheduleId);
          console.log(deleted ? `deleted schedule ${scheduleId}` : `no schedule ${scheduleId}`);
          return;
        }
        const interval = opts.interval ?? (validate ? '15m' : cfg.schedule.interval);
        if (validate && opts.source !== undefined) throw new InvalidArgumentError('--source applies to the ingest schedule only');
        const outcome = await upsertIngestSchedule(client, {
          scheduleId,
          taskQueue: cfg.temporal.taskQueue,
          interval,
          ...(validate ? { workflowType: VALIDATE_WORKFLOW_TYPE, workflowId: VALIDATE_SCHEDULE_ID } : {}),
          ...(opts.paused ? { paused: true } : opts.resume ? { paused: false } : {}),
          ...(opts.source !== undefined ? { input: { sourceUrl: opts.source } } : {}),
        });
        console.log(`${outcome} schedule ${scheduleId}: ${validate ? VALIDATE_WORKFLOW_TYPE : INGEST_WORKFLOW_TYPE} every ${interval}, task queue ${cfg.temporal.taskQueue}, overlap SKIP`);
      });
    });

  program
    .command('migrate')
    .description('Apply pending Postgres migrations (DATABASE_URL, DATABASE_SCHEMA) and record them in schema_migrations.')
    .action(async () => {
      const cfg = loadConfigOrExit();
      const result = await migrate({ databaseUrl: cfg.databaseUrl, schema: cfg.databaseSchema, log: (m) => console.log(m) });
      console.log(`${result.applied.length} applied, ${result.alreadyApplied.length} already applied (schema ${cfg.databaseSchema})`);
    });

  program.addCommand(buildValidateCommand());
  program.addCommand(buildTablesCommand());
  program.addCommand(buildGroupsCommand());
  program.addCommand(buildResyncCommand());
  program.addCommand(buildRecoverCommand());
  program.addCommand(buildDeadLettersCommand());
  program.addCommand(buildBackupCommand());

  return program;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      // Expected failures (configuration, migrations, a failed run, no worker, a timeout) are reported without a stack trace.
      const message = err instanceof ConfigError || err instanceof MigrationError || err instanceof Error ? err.message : String(err);
      process.stderr.write(`astros: ${message}\n`);
      process.exitCode = err instanceof TemporalNotReadyError || err instanceof WaitTimeoutError ? err.exitCode : 1;
    });
}
