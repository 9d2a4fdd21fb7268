/**
 * validate: start workflow validatePipeline, wait for it and print its report.
 *
 *   npx tsx cli/validate.ts --help
 *   npx tsx cli/validate.ts                        the astronauts pipeline (public.astronauts vs astros.astronauts)
 *   npx tsx cli/validate.ts --source-table people --key id --target-table people --catch-up none --json
 *
 * Needs a running worker on TASK_QUEUE (npm run worker); checks that first.
 * Exit status: 0 agree, 1 mismatch (the differing keys are printed),
 * 3 ClickHouse has not caught up (lag, not a mismatch), 2 usage or
 * configuration problems, 4 any other failure, 5 Temporal does not answer or
 * no worker polls (nothing started), 6 still running at --timeout (not cancelled).
 * Settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TASK_QUEUE, TEMPORAL_UI_URL) come from the environment; see .env.example.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure, Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { Command, InvalidArgumentError, Option } from 'commander';
import { IngestErrorType } from '../activities/errors.ts';
import type { CatchUpSpec, ValidationReport, ValidationSpec } from '../activities/validation.ts';
import { loadConfigOrExit } from '../config/env.ts';
import { ASTRONAUTS_VALIDATION, VALIDATE_WORKFLOW_TYPE, type ValidatePipelineInput } from '../workflows/validate-pipeline.ts';
import { awaitWorkflow, EXIT_TIMEOUT, timeoutOption, WaitTimeoutError } from './await-workflow.ts';
import { connectWithWorker, EXIT_NOT_READY, TemporalNotReadyError, type TemporalTarget } from './worker-check.ts';

export const EXIT = { agree: 0, mismatch: 1, usage: 2, lag: 3, error: 4, notReady: EXIT_NOT_READY, timeout: EXIT_TIMEOUT } as const;

interface Options {
  sourceSchema: string;
  sourceTable: string;
  key?: string[];
  columns?: string[];
  targetDatabase: string;
  targetTable: string;
  versionColumn: string;
  deletedColumn: string;
  catchUp: CatchUpSpec['mode'];
  minVersion?: string;
  slot: string;
  kafkaTopic?: string;
  kafkaGroup?: string;
  buckets: number;
  maxWait: number;
  maxKeys: number;
  workflowId?: string;
  json?: boolean;
  timeout: number;
}

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const list = (raw: string): string[] => raw.split(',').map((s) => s.trim()).filter(Boolean);

/** The spec the options describe; with no options, the astronauts pipeline. */
export function specFromOptions(o: Options): ValidationSpec {
  const a = ASTRONAUTS_VALIDATION;
  const catchUp: CatchUpSpec =
    o.catchUp === 'none'
      ? { mode: 'none' }
      : o.catchUp === 'version'
        ? { mode: 'version', ...(o.minVersion !== undefined ? { minVersion: o.minVersion } : {}) }
        : {
            mode: 'slot',
            slotName: o.slot,
            ...(o.kafkaTopic && o.kafkaGroup
              ? { kafka: { topic: o.kafkaTopic, groupId: o.kafkaGroup } }
              : a.catchUp.mode === 'slot' && a.catchUp.kafka && o.sourceTable === a.source.table && o.sourceSchema === a.source.schema
                ? { kafka: a.catchUp.kafka }
                : {}),
          };
  return {
    source: { schema: o.sourceSchema, table: o.sourceTable, ...(o.key ? { key: o.key } : {}), ...(o.columns ? { columns: o.columns } : {}) },
    target: {
      database: o.targetDatabase,
      table: o.targetTable,
      ...(o.versionColumn ? { versionColumn: o.versionColumn } : {}),
      ...(o.deletedColumn ? { deletedColumn: o.deletedColumn } : {}),
    },
    catchUp,
    buckets: o.buckets,
    maxWaitMs: o.maxWait * 1000,
    maxKeys: o.maxKeys,
  };
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
  const handle = await client.workflow.start(VALIDATE_WORKFLOW_TYPE, { taskQueue, workflowId, args: [input] });
  try {
    if (!wait) return (await handle.result()) as ValidationReport;
    return await awaitWorkflow<ValidationReport>({
      ...wait,
      handle,
      runId: handle.firstExecutionRunId,
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
  const a = ASTRONAUTS_VALIDATION;
  return new Command('validate')
    .description(
      `Start workflow ${VALIDATE_WORKFLOW_TYPE}: wait until ClickHouse has caught up with a Postgres snapshot, compare live row counts ` +
        'and value-level checksums, name the differing keys, record the report in validation_reports and print it. ' +
        'Needs a running worker polling TASK_QUEUE (npm run worker, or the dev stack\'s worker component); it checks that first. ' +
        'While waiting it prints progress every 10 s. ' +
        `Exit status ${EXIT.agree} agree, ${EXIT.mismatch} mismatch, ${EXIT.lag} ClickHouse lagging (nothing compared), ${EXIT.usage} usage, ${EXIT.error} other failure, ` +
        `${EXIT.notReady} Temporal not answering or no worker polling (nothing started), ${EXIT.timeout} still running at --timeout (not cancelled).`,
    )
    .option('--source-schema <name>', 'Postgres schema', a.source.schema)
    .option('--source-table <name>', 'Postgres table', a.source.table)
    .option('--key <cols>', 'key columns, comma-separated (default: the primary key)', list)
    .option('--columns <cols>', 'compared columns, comma-separated (default: all non-key columns present in both)', list)
    .option('--target-database <name>', 'ClickHouse database', a.target.database)
    .option('--target-table <name>', 'ClickHouse table', a.target.table)
    .option('--version-column <name>', 'ClickHouse version column (source LSN); empty for none', a.target.versionColumn ?? '')
    .option('--deleted-column <name>', 'ClickHouse deleted flag; empty for none', a.target.deletedColumn ?? '')
    .addOption(new Option('--catch-up <mode>', 'how to know ClickHouse has caught up: slot (Debezium slot + Kafka consumer), version (max version >= --min-version or the snapshot LSN), none').choices(['slot', 'version', 'none']).default('slot'))
    .option('--min-version <lsn>', 'for --catch-up version: the LSN (X/Y or number) ClickHouse must have reached')
    .option('--slot <name>', 'replication slot for --catch-up slot', a.catchUp.mode === 'slot' ? a.catchUp.slotName : 'astros_debezium')
    .option('--kafka-topic <topic>', 'topic the ClickHouse Kafka engine reads (with --kafka-group)')
    .option('--kafka-group <group>', "the ClickHouse Kafka engine's consumer group")
    .option('--buckets <n>', 'checksum buckets', positiveInt, 1024)
    .option('--max-wait <seconds>', 'longest wait for ClickHouse to catch up', positiveInt, 60)
    .option('--max-keys <n>', 'differing keys named per kind', positiveInt, 20)
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
        const report = await runValidation(client, cfg.temporal.taskQueue, { spec: specFromOptions(o) }, o.workflowId, wait);
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
        const msg = e instanceof ApplicationFailure && e.type ? `${e.type}: ${e.message}` : e instanceof Error ? e.message : String(e);
        console.error(`validatePipeline failed: ${msg}`);
        code = e instanceof ApplicationFailure && e.type === IngestErrorType.InvalidInput ? EXIT.usage : EXIT.error;
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
