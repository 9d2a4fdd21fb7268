/**
 * validate: start workflow validatePipeline, wait for it and print its report.
 *
 *   npx tsx cli/validate.ts --help
 *   npx tsx cli/validate.ts                        the table ingestAstronauts writes, as the catalog derives it
 *   npx tsx cli/validate.ts --table public.orders  any captured table (npm run catalog -- list)
 *   npx tsx cli/validate.ts --source-table people --key id --target-table people --catch-up none --json   a table the catalog does not capture
 *
 * With a ClickHouse replica set (CLICKHOUSE_REPLICA_URLS) it checks the
 * CLICKHOUSE_PRIMARY replica, or the next that answers when that one does
 * not; --replica <name> checks that one (the worker must know the set too).
 *
 * Needs a running worker on TASK_QUEUE (npm run worker); checks that first.
 * Exit status: 0 agree, 1 mismatch (the differing keys are printed),
 * 3 ClickHouse has not caught up (lag, not a mismatch), 2 usage or
 * configuration problems, 4 any other failure, 5 Temporal does not answer or
 * no worker polls (nothing started), 6 still running at --timeout (not cancelled),
 * 7 the table is blocked or dropped (nothing compared; the reason is printed).
 * Settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TASK_QUEUE, TEMPORAL_UI_URL) come from the environment; see .env.example.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure, Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { Command, InvalidArgumentError, Option } from 'commander';
import { IngestErrorType } from '../shared/errors.ts';
import type { CatchUpSpec, ValidationReport, ValidationSpec } from '../shared/validation.ts';
import { loadConfigOrExit } from '../config/load.ts';
import { withPostgres } from '../connectors/postgres/pool.ts';
import { SourceTableMissing } from '../catalog/introspect.ts';
import { pipelineNames } from '../shared/names.ts';
import { chooseReplica, failoverLine } from '../connectors/clickhouse/replicas.ts';
import { TableNotCaptured, TableStopped, validationSpecFor } from '../catalog/validation-spec.ts';
import { INGEST_TABLE, VALIDATE_WORKFLOW_TYPE } from '../shared/workflows.ts';
import { type ValidatePipelineInput } from '../workflows/validate-pipeline.ts';
import { awaitWorkflow, EXIT_TIMEOUT, timeoutOption, WaitTimeoutError } from './await-workflow.ts';
import { startOrAttach } from './run-workflow.ts';
import { connectWithWorker, EXIT_NOT_READY, TemporalNotReadyError, type TemporalTarget } from './worker-check.ts';

export const EXIT = { agree: 0, mismatch: 1, usage: 2, lag: 3, error: 4, notReady: EXIT_NOT_READY, timeout: EXIT_TIMEOUT, stopped: 7 } as const;

interface Options {
  table: string;
  sourceSchema: string;
  sourceTable?: string;
  key?: string[];
  columns?: string[];
  targetDatabase: string;
  targetTable?: string;
  versionColumn: string;
  deletedColumn: string;
  catchUp: CatchUpSpec['mode'];
  minVersion?: string;
  slot?: string;
  kafkaTopic?: string;
  kafkaGroup?: string;
  buckets: number;
  maxWait: number;
  maxKeys: number;
  workflowId?: string;
  replica?: string;
  json?: boolean;
  timeout: number;
}

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const list = (raw: string): string[] => raw.split(',').map((s) => s.trim()).filter(Boolean);

/**
 * The spec the options describe: a captured table's spec from the catalog
 * (`catalogSpec`, for --table), or, with --source-table, one for a table the
 * catalog does not capture. Catch-up and limits apply to both.
 */
export function specFromOptions(o: Options, catalogSpec?: ValidationSpec): ValidationSpec {
  const base: ValidationSpec | undefined = o.sourceTable === undefined ? catalogSpec : undefined;
  const catchUp: CatchUpSpec =
    o.catchUp === 'none'
      ? { mode: 'none' }
      : o.catchUp === 'version'
        ? { mode: 'version', ...(o.minVersion !== undefined ? { minVersion: o.minVersion } : {}) }
        : {
            mode: 'slot',
            // The table's own group's slot (the catalog's spec), unless --slot names one.
            slotName: o.slot ?? (base?.catchUp.mode === 'slot' ? base.catchUp.slotName : pipelineNames.slot),
            ...(o.kafkaTopic && o.kafkaGroup
              ? { kafka: { topic: o.kafkaTopic, groupId: o.kafkaGroup } }
              : base?.catchUp.mode === 'slot' && base.catchUp.kafka
                ? { kafka: base.catchUp.kafka }
                : {}),
          };
  const source = base?.source ?? { schema: o.sourceSchema, table: o.sourceTable ?? '' };
  // The catalog's target whole: which ClickHouse column each source column is compared with (numeric(p,s):
  // <col>_text, where NaN is; its Decimal holds NULL) and the change log that tells late commits apart.
  const { versionColumn: _version, deletedColumn: _deleted, ...target } = base?.target ?? { database: o.targetDatabase, table: o.targetTable ?? o.sourceTable ?? '' };
  return {
    source: { ...source, ...(o.key ? { key: o.key } : {}), ...(o.columns ? { columns: o.columns } : {}) },
    target: {
      ...target,
      ...(o.versionColumn ? { versionColumn: o.versionColumn } : {}),
      ...(o.deletedColumn ? { deletedColumn: o.deletedColumn } : {}),
    },
    catchUp,
    buckets: o.buckets,
    maxWaitMs: o.maxWait * 1000,
    maxKeys: o.maxKeys,
  };
}

/** The catalog's spec for --table (unless --source-table names a table outside the catalog). */
async function catalogSpec(o: Options, databaseUrl: string, groupPrefix: string): Promise<ValidationSpec | undefined> {
  if (o.sourceTable !== undefined) return undefined;
  return withPostgres(databaseUrl, 'astros-validate', (db) => validationSpecFor(db, o.table, groupPrefix), 5_000);
}

function exitFor(report: ValidationReport): number {
  return report.outcome === 'agree' ? EXIT.agree : report.outcome === 'lag' ? EXIT.lag : EXIT.mismatch;
}

/** How the CLI waits for the run: progress lines on `log`, and a deadline. */
export interface ValidationWait {
  connection: Connection;
  target: TemporalTarget;
  uiUrl: string;
  timeoutMs: number;
  log: (line: string) => void;
}

/** Start the workflow, wait; returns the report (also the failed run's, taken from the failure details). */
export async function runValidation(
  client: Client,
  taskQueue: string,
  input: ValidatePipelineInput,
  workflowId = `validate-pipeline-${randomUUID()}`,
  wait?: ValidationWait,
): Promise<ValidationReport> {
  const { handle, runId } = await startOrAttach(client, VALIDATE_WORKFLOW_TYPE, { taskQueue, workflowId, args: [input] });
  try {
    if (!wait) return (await handle.result()) as ValidationReport;
    return await awaitWorkflow<ValidationReport>({
      ...wait,
      handle,
      runId,
      workflowType: VALIDATE_WORKFLOW_TYPE,
      afterTimeout: 'Its report is recorded in validation_reports when it finishes.',
    });
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
      const type = err.cause.type;
      const [details] = err.cause.details ?? [];
      if ((type === IngestErrorType.ValidationMismatch || type === IngestErrorType.ReplicationLag) && details) return details as ValidationReport;
    }
    throw err;
  }
}

export function buildValidateCommand(): Command {
  return new Command('validate')
    .description(
      `Start workflow ${VALIDATE_WORKFLOW_TYPE}: wait until ClickHouse has caught up with a Postgres snapshot, compare live row counts ` +
        'and value-level checksums, name the differing keys, record the report in validation_reports and print it. ' +
        'Needs a running worker polling TASK_QUEUE (npm run worker, or the dev stack\'s worker component); it checks that first. ' +
        'While waiting it prints progress every 10 s. ' +
        `Exit status ${EXIT.agree} agree, ${EXIT.mismatch} mismatch, ${EXIT.lag} ClickHouse lagging (nothing compared), ${EXIT.usage} usage, ${EXIT.error} other failure, ` +
        `${EXIT.notReady} Temporal not answering or no worker polling (nothing started), ${EXIT.timeout} still running at --timeout (not cancelled), ` +
        `${EXIT.stopped} the table is blocked or dropped (nothing compared; the reason is printed).`,
    )
    .option('--table <schema.table>', 'a captured table: what to compare comes from the catalog (npm run catalog -- list)', INGEST_TABLE)
    .option('--source-table <name>', 'instead of --table: a Postgres table the catalog does not capture')
    .option('--source-schema <name>', 'with --source-table: its schema', 'public')
    .option('--target-database <name>', 'with --source-table: the ClickHouse database', pipelineNames.clickhouseDatabase)
    .option('--target-table <name>', 'with --source-table: the ClickHouse table (default: the source table\'s name)')
    .option('--key <cols>', 'key columns, comma-separated (default: the catalog\'s, or the primary key)', list)
    .option('--columns <cols>', 'compared columns, comma-separated (default: the catalog\'s, or all non-key columns present in both)', list)
    .option('--version-column <name>', 'ClickHouse version column (source LSN); empty for none', 'version')
    .option('--deleted-column <name>', 'ClickHouse deleted flag; empty for none', 'is_deleted')
    .addOption(new Option('--catch-up <mode>', 'how to know ClickHouse has caught up: slot (Debezium slot + Kafka consumer), version (max version >= --min-version or the snapshot LSN; proves only the partition that carried it), none').choices(['slot', 'version', 'none']).default('slot'))
    .option('--min-version <lsn>', 'for --catch-up version: the LSN (X/Y or number) ClickHouse must have reached')
    .option('--slot <name>', "replication slot for --catch-up slot (default: the table group's)")
    .option('--kafka-topic <topic>', 'topic the ClickHouse Kafka engine reads (with --kafka-group)')
    .option('--kafka-group <group>', "the ClickHouse Kafka engine's consumer group")
    .option('--buckets <n>', 'checksum buckets', positiveInt, 1024)
    .option('--max-wait <seconds>', 'longest wait for ClickHouse to catch up', positiveInt, 60)
    .option('--max-keys <n>', 'differing keys named per kind', positiveInt, 20)
    .option('--replica <name>', 'one ClickHouse replica of the set: ch1 (CLICKHOUSE_URL), ch2 (the first of CLICKHOUSE_REPLICA_URLS), ... (default: CLICKHOUSE_PRIMARY, else the next that answers)')
    .option('--workflow-id <id>', 'workflow id (default validate-pipeline-<uuid>)')
    .option('--json', 'print the whole report as JSON')
    .addOption(timeoutOption())
    .action(async (o: Options) => {
      const cfg = loadConfigOrExit();
      const log = (line: string) => process.stderr.write(`validate: ${line}\n`);
      let connection: Connection;
      try {
        connection = await connectWithWorker(cfg.temporal, { ifNoWorker: 'fail', consequence: `${VALIDATE_WORKFLOW_TYPE} would never complete` });
      } catch (err) {
        if (!(err instanceof TemporalNotReadyError)) throw err;
        log(err.message);
        process.exitCode = err.exitCode;
        return;
      }
      let code: number;
      try {
        const client = new Client({ connection, namespace: cfg.temporal.namespace });
        const wait: ValidationWait = { connection, target: cfg.temporal, uiUrl: cfg.temporal.uiUrl, timeoutMs: o.timeout, log };
        // One host: the worker's CLICKHOUSE_URL, as before replica sets. Several: the named one, else the primary or the next that answers.
        const choice = o.replica !== undefined || cfg.clickhouseReplicas.length > 1 ? await chooseReplica(cfg, o.replica) : undefined;
        const said = choice && failoverLine(choice);
        if (said) log(said);
        const spec = specFromOptions(o, await catalogSpec(o, cfg.databaseUrl, choice?.replica.groupPrefix ?? cfg.groupPrefix));
        const report = await runValidation(client, cfg.temporal.taskQueue, { spec, ...(choice ? { replica: choice.replica.name } : {}) }, o.workflowId, wait);
        console.log(o.json ? JSON.stringify(report, null, 2) : report.summary);
        code = exitFor(report);
      } catch (err) {
        if (err instanceof WaitTimeoutError || err instanceof TemporalNotReadyError) {
          log(err.message);
          process.exitCode = err.exitCode;
          return;
        }
        let e: unknown = err;
        while (e instanceof Error && e.cause instanceof Error) e = e.cause;
        if (e instanceof TableStopped || (e instanceof ApplicationFailure && e.type === IngestErrorType.TableStopped)) {
          console.error(`validate: ${(e as Error).message}`);
          process.exitCode = EXIT.stopped;
          return;
        }
        const msg = e instanceof ApplicationFailure && e.type ? `${e.type}: ${e.message}` : e instanceof Error ? e.message : String(e);
        console.error(`validatePipeline failed: ${msg}`);
        code = (e instanceof ApplicationFailure && e.type === IngestErrorType.InvalidInput) || e instanceof TableNotCaptured || e instanceof SourceTableMissing ? EXIT.usage : EXIT.error;
      } finally {
        await connection.close();
      }
      process.exitCode = code;
    });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cmd = buildValidateCommand().name('validate').showHelpAfterError();
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT.usage));
  await cmd.parseAsync(process.argv);
}
