/**
 * Shared helpers for integration tests: clients for the stack that
 * test/global-setup.ts started (addresses come from the environment), unique
 * names, and polling until the pipeline has caught up.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import type { TableDeclarationInput } from '../../catalog/declaration.ts';
import { dropOrder, tableNames } from '../../shared/names.ts';
import { removeTable } from '../../catalog/store.ts';
import { parseConfig, type Endpoints } from '../../config/load.ts';
import { setupPipeline } from '../../activities/setup.ts';
import { kafkaClient } from '../../connectors/kafka/client.ts';
import { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { describePollers, judgePollers } from '../../cli/worker-check.ts';

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: integration tests run under test/global-setup.ts (npm test)`);
  return v;
}

/** A short random tag so every test names its own rows and objects. */
export function uniqueTag(prefix = 't'): string {
  return `${prefix}_${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
}

export function clickhouse(): ClickHouseClient {
  return createClient({ url: requireEnv('CLICKHOUSE_URL'), request_timeout: 60_000, log: { level: ClickHouseLogLevel.OFF } });
}

export function postgres(url = requireEnv('DATABASE_URL')): pg.Pool {
  return new pg.Pool({ connectionString: url, max: 4 });
}

export async function chRows<T>(ch: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await ch.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** Poll `probe` until `done(value)` holds; fail with the last value after the timeout. */
export async function waitFor<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 90_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (done(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}${lastErr ? `; last error: ${String(lastErr)}` : ''}`);
}

/** What ClickHouse says about a queue's consumers, for a test that timed out waiting on one. */
export async function kafkaConsumerReport(ch: ClickHouseClient, queue: string): Promise<string> {
  const [db, table] = queue.includes('.') ? queue.split('.') : ['astros', queue];
  const rows = await chRows<Record<string, unknown>>(
    ch,
    `SELECT consumer_id, assignments.topic AS topics, assignments.partition_id AS partitions, assignments.current_offset AS offsets,
            last_poll_time, num_messages_read, last_commit_time, num_commits, last_rebalance_time, num_rebalance_assignments,
            num_rebalance_revocations, is_currently_used, exceptions.time AS exception_times, exceptions.text AS exceptions
     FROM system.kafka_consumers WHERE database = {db:String} AND table = {table:String}`,
    { db, table },
  ).catch((e: unknown) => [{ error: String(e) }]);
  return `${queue} consumers: ${JSON.stringify(rows)}`;
}

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

/** Runs a command from the repository root with extra environment; resolves with its exit code and combined output. */
export function runCommand(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, text }));
  });
}

/** The pipeline's addresses in the test stack (set by the global setup). */
export function testEndpoints(): Endpoints {
  return parseConfig(process.env);
}

/** A Kafka client of the test stack (clients connect on use). */
export function testKafka(): ReturnType<typeof kafkaClient> {
  return kafkaClient(testEndpoints().kafkaBrokers, 'astros-test');
}

/** The test stack's Kafka Connect. */
export function testConnect(): KafkaConnect {
  return new KafkaConnect(testEndpoints().connectUrl);
}

/**
 * Capture a table the way a person would: declare it in the live catalog and
 * run setup (publication, topic, ClickHouse objects, connector table list).
 */
export async function captureTable(decl: TableDeclarationInput): Promise<void> {
  await setupPipeline(testEndpoints(), { declare: [decl], log: () => undefined });
}

/** Stop capturing a test table (its declaration is marked removed; the connector keeps its list until the next setup). */
export async function releaseTable(pool: pg.Pool, source: string): Promise<void> {
  await removeTable(pool, source);
}

/** What a test that runs its own worker over its own schema and ClickHouse database has to close. */
export interface TestWorkerResources {
  worker?: { shutdown(): void };
  workerDone?: Promise<void>;
  nativeConnection?: { close(): Promise<void> };
  connection?: { close(): Promise<void> };
  ch?: ClickHouseClient;
  pool?: pg.Pool;
  /** The schema and ClickHouse database named after the test. */
  tag: string;
}

/** Stop the worker, close the connections, drop the test's schema and database. */
export async function closeTestWorker(r: TestWorkerResources): Promise<void> {
  r.worker?.shutdown();
  await r.workerDone?.catch(() => undefined);
  await r.nativeConnection?.close();
  await r.connection?.close();
  await r.ch?.command({ query: `DROP DATABASE IF EXISTS ${r.tag}` }).catch(() => undefined);
  await r.ch?.close();
  await r.pool?.query(`drop schema if exists ${r.tag} cascade`).catch(() => undefined);
  await r.pool?.end();
}

export interface TestWorker {
  client: Client;
  stop(): Promise<void>;
}

/**
 * A worker for the project's workflows on the test's own task queue, with the
 * given activities, and a client. Returns once the server has seen it poll,
 * so the CLI's worker check (which looks at once) finds it.
 */
export async function startTestWorker(taskQueue: string, activities: object): Promise<TestWorker> {
  const address = requireEnv('TEMPORAL_ADDRESS');
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const worker = await Worker.create({ connection: nativeConnection, taskQueue, workflowsPath: path.join(repoRoot, 'workflows', 'index.ts'), activities });
  const done = worker.run();
  const target = { address, namespace: 'default', taskQueue };
  await waitFor(() => describePollers(connection, target), (p) => judgePollers(p, Date.now()).ok, `a poller on ${taskQueue}`, 30_000);
  return {
    client: new Client({ connection }),
    async stop() {
      worker.shutdown();
      await done.catch(() => undefined);
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** Undo `captureTable` for a test's own table: its ClickHouse objects, its declaration, the Postgres table and its topic. Never throws. */
export async function dropCapturedTable(pool: pg.Pool, ch: ClickHouseClient, source: string): Promise<void> {
  const names = tableNames(source, { groupPrefix: testEndpoints().groupPrefix });
  for (const o of dropOrder(names)) await ch.command({ query: `DROP ${o.kind} IF EXISTS ${o.name}` }).catch(() => undefined);
  await releaseTable(pool, source).catch(() => undefined);
  await pool.query(`drop table if exists ${source}`).catch(() => undefined);
  const admin = new Kafka({ clientId: `drop-${names.base}`, brokers: requireEnv('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [names.topic] }).catch(() => undefined);
  await admin.disconnect();
}

/**
 * startTestWorker with the project's activities wired to the test stack (no
 * ingest source: tests of tables, resync and recovery never fetch the feed).
 */
export async function startPipelineTestWorker(taskQueue: string, pool: pg.Pool, ch: ClickHouseClient): Promise<TestWorker> {
  const { createActivities } = await import('../../activities/index.ts');
  return startTestWorker(
    taskQueue,
    createActivities({
      pool,
      clickhouse: ch,
      kafka: testKafka(),
      connect: testConnect(),
      endpoints: testEndpoints(),
      source: { url: 'http://127.0.0.1:1/unused', connectTimeoutMs: 1000, responseTimeoutMs: 1000, retries: 0, retryMinDelayMs: 10, maxBodyBytes: 1024, maxPeople: 1 },
    }),
  );
}

/** Runs `step(n)` for n = 0, 1, … with `pauseMs` between, until `stop()`, which resolves to how many steps ran. */
export function loopWriter(step: (n: number) => Promise<void>, pauseMs: number): { stop: () => Promise<number> } {
  let running = true;
  let n = 0;
  const done = (async () => {
    for (; running; n++) {
      await step(n);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return n;
    },
  };
}
