/**
 * The ingest worker: applies pending migrations, then polls the task queue
 * (TASK_QUEUE, default astros-ingest) for every workflow and activity, and
 * starts the watch of schema changes (workflow schema-changes) unless it runs.
 *
 *   npx tsx worker/main.ts        (npm run worker)
 *
 * Stops gracefully on SIGINT/SIGTERM (in-flight activities finish first).
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../activities/index.ts';
import { createPool } from '../activities/postgres.ts';
import { backupSettings, loadConfigOrExit, workerEndpoints, type Config } from '../config/env.ts';
import { migrate } from '../db/migrate.ts';
import { SCHEMA_WATCH_WORKFLOW_ID, SCHEMA_WATCH_WORKFLOW_TYPE } from '../workflows/schema-changes.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** The one watch of schema changes (workflows/schema-changes.ts): started once, kept when already running. */
async function startSchemaWatch(cfg: Config): Promise<void> {
  const connection = await Connection.connect({ address: cfg.temporal.address });
  try {
    const handle = await new Client({ connection, namespace: cfg.temporal.namespace }).workflow.start(SCHEMA_WATCH_WORKFLOW_TYPE, {
      taskQueue: cfg.temporal.taskQueue,
      workflowId: SCHEMA_WATCH_WORKFLOW_ID,
      args: [{}],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    console.log(`schema changes: watched by workflow ${handle.workflowId}`);
  } catch (err) {
    console.error(`schema changes: could not start workflow ${SCHEMA_WATCH_WORKFLOW_ID} (${err instanceof Error ? err.message : String(err)}); start it from the Web UI`);
  } finally {
    await connection.close();
  }
}

export async function runWorker(cfg: Config): Promise<void> {
  if (cfg.migrateOnStart) {
    const result = await migrate({ databaseUrl: cfg.databaseUrl, schema: cfg.databaseSchema, log: (m) => console.log(`[migrate] ${m}`) });
    console.log(`[migrate] ${result.applied.length} applied, ${result.alreadyApplied.length} already applied (schema ${cfg.databaseSchema})`);
  }
  const pool = createPool(cfg.databaseUrl, cfg.databaseSchema);
  const clickhouse = createClient({ url: cfg.clickhouseUrl, request_timeout: 120_000, log: { level: ClickHouseLogLevel.OFF } });
  const connection = await NativeConnection.connect({ address: cfg.temporal.address });
  try {
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue: cfg.temporal.taskQueue,
      workflowsPath,
      activities: createActivities({ pool, source: cfg.source, clickhouse, kafkaBrokers: cfg.kafkaBrokers, groupPrefix: cfg.groupPrefix, endpoints: workerEndpoints(cfg), backup: backupSettings() }),
    });
    console.log(
      `worker polling task queue '${cfg.temporal.taskQueue}' on ${cfg.temporal.address} (namespace ${cfg.temporal.namespace}); ` +
        `source ${cfg.source.url}`,
    );
    const running = worker.run();
    await startSchemaWatch(cfg);
    await running;
  } finally {
    await connection.close();
    await clickhouse.close();
    await pool.end();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(`Usage: worker/main.ts

Runs the ingest worker: applies pending Postgres migrations (unless
ASTROS_MIGRATE_ON_START=false), then serves workflow 'ingestAstronauts' on
task queue TASK_QUEUE. All settings come from the environment (.env.example).`);
    process.exit(0);
  }
  const cfg = loadConfigOrExit();
  Runtime.install({
    logger: new DefaultLogger(cfg.logLevel),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  });
  runWorker(cfg).catch((err: unknown) => {
    console.error(`worker failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
