/**
 * The ingest worker's assembly: applies pending migrations, builds the
 * activities' clients once, then polls the task queue (TASK_QUEUE, default
 * astros-ingest) for every workflow and activity, and starts the watch of
 * schema changes (workflow schema-changes) unless it runs (or
 * ASTROS_SCHEMA_WATCH=false). The command: `npm run worker` (cli/worker.ts).
 *
 * Outlives its dependencies: a Postgres restart costs the pool its
 * connections, not the process (connectors/postgres/pool.ts); when the Temporal
 * SDK's worker gives up on an unreachable server (its core shuts a worker
 * down when a poll fails for good: a status it does not retry, past its
 * 60 s grace) or cannot be created, the worker is created again on a new
 * connection, with backoff, for as long as the process runs. Stops gracefully
 * on SIGINT/SIGTERM (in-flight activities finish first).
 */
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../activities/index.ts';
import { createPool } from '../connectors/postgres/pool.ts';
import type { Config } from '../config/load.ts';
import { createClickHouse } from '../connectors/clickhouse/client.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';
import { KafkaConnect } from '../connectors/kafka-connect/client.ts';
import { migrate } from '../connectors/postgres/migrate.ts';
import { SCHEMA_WATCH_WORKFLOW_ID, SCHEMA_WATCH_WORKFLOW_TYPE } from '../shared/workflows.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Pause before creating the worker again: 1 s, doubling to 30 s; a run of a minute or more starts again at 1 s. */
const retryDelayMs = (failures: number) => Math.min(30_000, 1_000 * 2 ** Math.min(failures, 5));
const STABLE_RUN_MS = 60_000;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';

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
    console.error(`schema changes: could not start workflow ${SCHEMA_WATCH_WORKFLOW_ID} (${message(err)}); start it from the Web UI`);
  } finally {
    await connection.close();
  }
}

/** Resolves when SIGINT or SIGTERM asks the process to stop (the SDK's runtime shuts a running worker down on them). */
function stopRequested(): { readonly stopping: boolean; wait: Promise<void> } {
  const state = { stopping: false, wait: Promise.resolve() };
  state.wait = new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        state.stopping = true;
        resolve();
      });
    }
  });
  return state;
}

export async function runWorker(cfg: Config): Promise<void> {
  if (cfg.migrateOnStart) {
    const result = await migrate({ databaseUrl: cfg.databaseUrl, schema: cfg.databaseSchema, log: (m) => console.log(`[migrate] ${m}`) });
    console.log(`[migrate] ${result.applied.length} applied, ${result.alreadyApplied.length} already applied (schema ${cfg.databaseSchema})`);
  }
  const stop = stopRequested();
  const pool = createPool(cfg.databaseUrl, { schema: cfg.databaseSchema, application: 'astros-ingest' });
  const clickhouse = createClickHouse(cfg.clickhouseUrl, { requestTimeoutMs: 120_000 });
  // Bundled once: a worker created again after an outage reuses it (bundling takes seconds of CPU).
  const workflowBundle = await bundleWorkflowCode({ workflowsPath });
  const activities = createActivities({ pool, source: cfg.source, clickhouse, kafka: kafkaClient(cfg.kafkaBrokers, 'astros-worker'), connect: new KafkaConnect(cfg.connectUrl), endpoints: cfg });
  let watchStarted = !cfg.schemaWatch;
  let failures = 0;
  try {
    while (!stop.stopping) {
      const t0 = Date.now();
      let why: string;
      // A new connection each time: the SDK keeps a worker that failed to start registered on its connection, and refuses a second one for the same task queue there.
      let connection: NativeConnection | undefined;
      try {
        connection = await NativeConnection.connect({ address: cfg.temporal.address });
        const worker = await Worker.create({ connection, namespace: cfg.temporal.namespace, taskQueue: cfg.temporal.taskQueue, workflowBundle, activities });
        console.log(
          `worker polling task queue '${cfg.temporal.taskQueue}' on ${cfg.temporal.address} (namespace ${cfg.temporal.namespace}); ` +
            `source ${cfg.source.url}`,
        );
        const running = worker.run();
        running.catch(() => undefined); // awaited below; a failure while the watch starts is not an unhandled rejection
        if (!watchStarted) {
          watchStarted = true;
          await startSchemaWatch(cfg);
        }
        await running;
        why = `it stopped by itself (state ${worker.getState()})`;
      } catch (err) {
        why = `it failed: ${message(err).slice(0, 300)}`;
      } finally {
        await connection?.close().catch(() => undefined);
      }
      if (stop.stopping) break;
      if (Date.now() - t0 >= STABLE_RUN_MS) failures = 0;
      const delay = retryDelayMs(failures++);
      console.error(`worker: not polling task queue '${cfg.temporal.taskQueue}': ${why}; creating it again in ${delay / 1000} s (Temporal at ${cfg.temporal.address})`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => (timer = setTimeout(r, delay))), stop.wait]);
      clearTimeout(timer);
    }
  } finally {
    await clickhouse.close();
    await pool.end();
  }
}
