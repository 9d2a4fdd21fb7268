/**
 * The native stack keeps itself running:
 *  - the stack's own worker (the `worker` component, started here by name on
 *    this file's task queue and Postgres schema: the test profile has no
 *    standing worker) outlives a Postgres crash and a Temporal crash, both
 *    brought back with `kill` + `up`, as the same process, and ingests after;
 *  - a component SIGKILLed behind the stack's back (a crash, not `stack
 *    kill`) is started again by the supervisor, as it was started, and
 *    `stack status` and the monitor count the restart; a SIGKILLed
 *    supervisor is started again by the next `up`.
 * Afterwards the worker component is stopped and the connector's task
 * checked, so the files after this one find the stack as it was.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentsFor } from '../../stack/components/index.ts';
import { createContext } from '../../stack/lib/context.ts';
import { pidFile, StackManager } from '../../stack/lib/manager.ts';
import { readPidfile } from '../../stack/lib/process.ts';
import { readRestarts } from '../../stack/lib/restarts.ts';
import { supervisorRunning } from '../../stack/lib/supervisor-process.ts';
import { INGEST_WORKFLOW_TYPE, type IngestSummary } from '../../shared/workflows.ts';
import { clickhouse, postgres, requireEnv, runCommand, uniqueTag, waitFor } from './helpers.ts';

const tag = uniqueTag('supervised');
const taskQueue = `supervised-${tag}`;
/** What the worker component is started with: this file's queue and schema, and no watch of the pipeline's schema changes. */
const workerEnv = { TASK_QUEUE: taskQueue, DATABASE_SCHEMA: tag, ASTROS_SCHEMA_WATCH: 'false', LOG_LEVEL: 'WARN' };
const manager = new StackManager(createContext('test', () => undefined), componentsFor('test'));
const worker = manager.components.find((c) => c.name === 'worker')!;
const workerPid = () => readPidfile(pidFile(manager.ctx, worker))?.pid;

let pool: pg.Pool;
let ch: ClickHouseClient;
let temporal: Client;

const stackCli = (args: string[], env: Record<string, string> = {}) => runCommand('npx', ['tsx', 'cli/stack.ts', ...args, '--profile', 'test'], env);

async function ingestInProcess(label: string): Promise<IngestSummary> {
  return temporal.workflow.execute(INGEST_WORKFLOW_TYPE, { taskQueue, workflowId: `${tag}-${label}`, args: [{}] }) as Promise<IngestSummary>;
}

/** The worker's pooled Postgres connections that sit idle: what a Postgres crash turns into 'error' events. */
async function idleWorkerConnections(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where application_name = 'astros-ingest' and state = 'idle'`);
  return rows[0]!.n;
}

/** A failed Debezium task (Postgres went away under it) is restarted, as the fault suite does. */
async function connectorRunning(): Promise<boolean> {
  const url = `${requireEnv('CONNECT_URL')}/connectors/astros-postgres`;
  const s = (await (await fetch(`${url}/status`)).json()) as { connector: { state: string }; tasks: { state: string }[] };
  if (s.connector.state === 'FAILED' || s.tasks.some((t) => t.state === 'FAILED')) await fetch(`${url}/restart?includeTasks=true&onlyFailed=true`, { method: 'POST' });
  return s.connector.state === 'RUNNING' && s.tasks.length > 0 && s.tasks.every((t) => t.state === 'RUNNING');
}

beforeAll(async () => {
  pool = postgres();
  pool.on('error', () => undefined); // this test's own idle clients die with Postgres too
  ch = clickhouse();
  temporal = new Client({ connection: await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') }) });
  const up = await stackCli(['up', 'worker'], workerEnv);
  expect(up.code, up.text).toBe(0);
});

afterAll(async () => {
  await manager.down(['worker']).catch(() => undefined);
  await pool.query(`drop schema if exists ${tag} cascade`).catch(() => undefined);
  await temporal.connection.close().catch(() => undefined);
  await ch.close();
  await pool.end();
});

describe('the native stack keeps itself running', () => {
  it("the stack's worker outlives a Postgres crash and a Temporal crash as the same process, and ingests afterwards", { timeout: 300_000 }, async () => {
    const pid = workerPid();
    expect(pid).toBeDefined();
    // Postgres dies while the worker holds idle connections (its pool keeps them 10 s after the ingest).
    let ingests = 0;
    do expect((await ingestInProcess(`before-${++ingests}`)).status).toBe('applied');
    while ((await idleWorkerConnections()) === 0 && ingests < 3);
    expect(await manager.kill('postgres')).toBeDefined();
    await manager.up(['postgres']);
    expect(await manager.kill('temporal')).toBeDefined();
    await manager.up(['temporal']);

    const ingest = await runCommand('npx', ['tsx', 'cli/astros.ts', 'ingest', '--workflow-id', `${tag}-after`, '--timeout', '120s'], { TASK_QUEUE: taskQueue });
    expect(ingest.code, ingest.text).toBe(0);
    expect(JSON.parse(ingest.text.slice(ingest.text.indexOf('{'))) as IngestSummary).toMatchObject({ workflowId: `${tag}-after` });
    expect(workerPid(), 'the worker is the process it was before both crashes').toBe(pid);
    // Debezium outlives the Postgres crash too; asserted here rather than waited on quietly after all, so a connector
    // that never comes back fails this file instead of the next one that streams.
    expect(await waitFor(connectorRunning, (ok) => ok, 'the Debezium connector and its task RUNNING after the Postgres crash', 120_000, 2_000)).toBe(true);
  });

  it('a component SIGKILLed behind the stack\'s back is started again by the supervisor, as it was started, and counted', { timeout: 300_000 }, async () => {
    const pid = workerPid()!;
    expect(await worker.healthy(manager.ctx), 'the worker component runs before it is killed').toBe(true);
    const before = readRestarts(manager.ctx.stateDir).worker?.restarts ?? 0; // earlier runs of this file on a kept stack
    process.kill(-pid, 'SIGKILL'); // a crash: its whole process group, not `stack kill`
    const back = await waitFor(
      async () => ({ pid: workerPid(), healthy: await worker.healthy(manager.ctx) }),
      (w) => w.pid !== pid && w.healthy,
      'the supervisor to restart the worker, polling its own task queue again',
      180_000,
      1_000,
    );
    const status = await stackCli(['status']);
    expect(status.code, status.text).toBe(0);
    expect(status.text).toMatch(new RegExp(`^worker\\s+healthy\\s+pid ${back.pid}\\b.*restarts ${before + 1}\\s.*task queue ${taskQueue}`, 'm'));
    expect(status.text).toMatch(/^supervisor\s+running\s+pid \d+/m);
    expect((await ingestInProcess('after-restart')).workflowId).toBe(`${tag}-after-restart`);
    const metric = await waitFor(
      async () => (await (await fetch(`${requireEnv('MONITOR_URL')}/metrics`)).text()).match(/^astros_component_restarts_total\{component="worker"\} (\d+)$/m)?.[1],
      (n) => n === String(before + 1),
      'the monitor to count the restart',
      60_000,
      1_000,
    );
    expect(metric).toBe(String(before + 1));

    // The supervisor itself gone: the next `up` starts it again.
    const sup = supervisorRunning(manager.ctx)!;
    process.kill(sup.pid, 'SIGKILL');
    // SIGKILL is delivered asynchronously: until the kernel has ended it, its pidfile still names a live process.
    await waitFor(async () => supervisorRunning(manager.ctx), (r) => r === undefined, 'the killed supervisor to be gone', 30_000, 100);
    await manager.up(['simulator']);
    expect(supervisorRunning(manager.ctx)?.pid ?? sup.pid).not.toBe(sup.pid);
  });
});
