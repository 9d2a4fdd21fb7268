/**
 * The commands that wait on Temporal (npm run ingest, npm run validate), run
 * as child processes against the test stack: with nobody polling the task
 * queue or nothing listening at TEMPORAL_ADDRESS they exit within 10 s with a
 * message instead of hanging; with a worker polling they still work; and a
 * run that outlasts --timeout ends the wait with its own exit status.
 *
 * The test stack has no worker of its own (each test runs one on its own task
 * queue), so this file runs one in-process, like ingest.test.ts, over its own
 * Postgres schema, ClickHouse database and simulator scenario.
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { createPool } from '../../connectors/postgres/pool.ts';
import { EXIT_TIMEOUT } from '../../cli/await-workflow.ts';
import { describePollers, EXIT_NOT_READY, judgePollers } from '../../cli/worker-check.ts';
import { migrate } from '../../connectors/postgres/migrate.ts';
import { clickhouse, requireEnv, runCommand, uniqueTag, waitFor, closeTestWorker, testKafka, testConnect, testEndpoints } from './helpers.ts';

const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
const tag = uniqueTag('cliwait');

/**
 * `npm run -s <script> -- args` with extra environment; wall time included.
 * A command that hangs is stopped after 30 s (coreutils timeout: exit 124), so
 * the regression this file guards against fails fast instead of at the test timeout.
 */
async function npmRun(script: 'ingest' | 'validate', args: string[], env: Record<string, string>) {
  const started = Date.now();
  const { code, text } = await runCommand('timeout', ['-k', '5', '30', 'npm', 'run', '-s', script, '--', ...args], env);
  return { code, text, seconds: (Date.now() - started) / 1000 };
}

/** A port nothing listens on (bound once by us, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe('without a worker or without Temporal, the waiting commands exit within 10 s', () => {
  it.each(['ingest', 'validate'] as const)('%s: a task queue nobody polls', async (script) => {
    const taskQueue = `nobody-polls-${tag}-${script}`;
    const r = await npmRun(script, [], { TASK_QUEUE: taskQueue });
    console.log(`[cli-worker-check] ${script}, nobody polls: exit ${r.code} after ${r.seconds.toFixed(1)} s`);
    expect(r.code, r.text).toBe(EXIT_NOT_READY);
    expect(r.seconds).toBeLessThan(10);
    expect(r.text).toContain(`no worker is polling task queue '${taskQueue}' on Temporal ${requireEnv('TEMPORAL_ADDRESS')}`);
    expect(r.text).toContain('npm run worker');
    noStackTrace(r.text);
  });

  it.each(['ingest', 'validate'] as const)('%s: TEMPORAL_ADDRESS where nothing listens', async (script) => {
    const address = `127.0.0.1:${await closedPort()}`;
    const r = await npmRun(script, [], { TEMPORAL_ADDRESS: address });
    console.log(`[cli-worker-check] ${script}, Temporal down: exit ${r.code} after ${r.seconds.toFixed(1)} s`);
    expect(r.code, r.text).toBe(EXIT_NOT_READY);
    expect(r.seconds).toBeLessThan(10);
    expect(r.text).toContain(`Temporal is not answering at ${address} (connection refused: nothing is listening there)`);
    expect(r.text).toContain('npm run stack -- up temporal');
    noStackTrace(r.text);
  });
});

describe('with a worker polling', () => {
  const taskQueue = `cli-wait-${tag}`;
  const env = { TASK_QUEUE: taskQueue };
  let pool: pg.Pool;
  let ch: ClickHouseClient;
  let nativeConnection: NativeConnection;
  let connection: Connection;
  let client: Client;
  let worker: Worker;
  let workerDone: Promise<void>;

  beforeAll(async () => {
    const databaseUrl = requireEnv('DATABASE_URL');
    const simulator = requireEnv('SIMULATOR_URL');
    await migrate({ databaseUrl, schema: tag });
    pool = createPool(databaseUrl, { schema: tag, max: 2, application: 'astros-ingest' });
    ch = clickhouse();
    // One table in each engine, holding the same two rows.
    await pool.query(`create table ${tag}.people (id integer primary key, name text not null)`);
    await pool.query(`insert into ${tag}.people values (1, 'Ada'), (2, 'Yuri')`);
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${tag}` });
    await ch.command({
      query: `CREATE TABLE ${tag}.people (id Int32, name String, version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY id`,
    });
    await ch.command({ query: `INSERT INTO ${tag}.people VALUES (1, 'Ada', 1, 0), (2, 'Yuri', 1, 0)` });
    const control = await fetch(`${simulator}/s/${tag}/control`, {
      method: 'POST',
      body: JSON.stringify({ crew: [{ name: `Ada ${tag}`, craft: 'ISS' }], clearFaults: true }),
    });
    expect(control.ok).toBe(true);

    const address = requireEnv('TEMPORAL_ADDRESS');
    nativeConnection = await NativeConnection.connect({ address });
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowsPath,
      activities: createActivities({
        pool,
        clickhouse: ch,
        kafka: testKafka(),
        connect: testConnect(),
        endpoints: testEndpoints(),
        source: { url: `${simulator}/s/${tag}/astros.json`, connectTimeoutMs: 2_000, responseTimeoutMs: 5_000, retries: 1, retryMinDelayMs: 50, maxBodyBytes: 1024 * 1024, maxPeople: 1000 },
      }),
    });
    workerDone = worker.run();
    // The command checks at once: let the worker's first polls reach the server.
    const target = { address, namespace: 'default', taskQueue };
    await waitFor(() => describePollers(connection, target), (p) => judgePollers(p, Date.now()).ok, `a poller on ${taskQueue}`, 30_000);
  });

  afterAll(async () => {
    await closeTestWorker({ worker, workerDone, nativeConnection, connection, ch, pool, tag });
  });

  it('ingest: starts the run, says where to follow it, prints the summary', async () => {
    const workflowId = `ingest-${tag}`;
    const r = await npmRun('ingest', ['--workflow-id', workflowId], env);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain(`waiting for ingestAstronauts ${workflowId} (at most 10 min, --timeout); Web UI: ${requireEnv('TEMPORAL_UI_URL')}/namespaces/default/workflows/${workflowId}/`);
    const summary = JSON.parse(r.text.slice(r.text.indexOf('{'))) as { status: string; inserted: number; workflowId: string };
    expect(summary).toMatchObject({ workflowId, status: 'applied', inserted: 1 });
  });

  const validateArgs = ['--source-schema', tag, '--source-table', 'people', '--target-database', tag, '--target-table', 'people', '--buckets', '4'];

  it('validate: the two tables agree (exit 0)', async () => {
    const r = await npmRun('validate', [...validateArgs, '--catch-up', 'none', '--workflow-id', `validate-${tag}`], env);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toMatch(/agree/);
  });

  it(`validate: a run that outlasts --timeout ends the wait with exit ${EXIT_TIMEOUT} and is left running`, async () => {
    const workflowId = `validate-slow-${tag}`;
    // ClickHouse never reaches this version: the run waits --max-wait (8 s) for it; the command gives up after 2 s.
    const r = await npmRun('validate', [...validateArgs, '--catch-up', 'version', '--min-version', '999999999999', '--max-wait', '8', '--timeout', '2s', '--workflow-id', workflowId], env);
    console.log(`[cli-worker-check] validate --timeout 2s: exit ${r.code} after ${r.seconds.toFixed(1)} s`);
    expect(r.code, r.text).toBe(EXIT_TIMEOUT);
    expect(r.seconds).toBeLessThan(10);
    expect(r.text).toMatch(new RegExp(`gave up waiting after 2 s \\(--timeout\\): validatePipeline ${workflowId} \\(run \\S+\\) is still RUNNING on task queue '${taskQueue}'; it was not cancelled\\.`));
    expect(r.text).toContain(`Follow it in the Temporal Web UI: ${requireEnv('TEMPORAL_UI_URL')}/namespaces/default/workflows/${workflowId}/`);
    noStackTrace(r.text);
    const handle = client.workflow.getHandle(workflowId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await handle.terminate('test done');
  });
});
