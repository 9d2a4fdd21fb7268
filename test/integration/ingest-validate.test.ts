/**
 * After an ingest that changed the captured table (public.astronauts), the
 * workflow runs validatePipeline as a child: its outcome is in the summary,
 * and the child is a workflow of its own (visible in the Web UI).
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { deleteIngestSchedule, upsertIngestSchedule } from '../../cli/client.ts';
import { NativeConnection, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { createPool } from '../../connectors/postgres/pool.ts';
import { INGEST_WORKFLOW_TYPE, type IngestSummary, VALIDATE_WORKFLOW_TYPE } from '../../shared/workflows.ts';
import { requireEnv, uniqueTag, testKafka, testConnect, testEndpoints } from './helpers.ts';

const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

let pool: pg.Pool;
let clickhouse: ClickHouseClient;
let nativeConnection: NativeConnection;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  pool = createPool(requireEnv('DATABASE_URL'), { schema: 'public', max: 2, application: 'astros-ingest' });
  clickhouse = createClient({ url: requireEnv('CLICKHOUSE_URL'), log: { level: ClickHouseLogLevel.OFF } });
  nativeConnection = await NativeConnection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
  connection = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
  client = new Client({ connection });
});

afterAll(async () => {
  await connection?.close();
  await nativeConnection?.close();
  await clickhouse?.close();
  await pool?.end();
});

describe('ingest then validate', () => {
  it('validates Postgres against ClickHouse as a child workflow after a run that changed the captured table', async () => {
    const tag = uniqueTag('ingval');
    const taskQueue = `ingest-validate-${tag}`;
    const simulator = requireEnv('SIMULATOR_URL');
    const crew = [
      { name: `Ada ${tag}`, craft: 'ISS' },
      { name: `Yuri ${tag}`, craft: 'Tiangong' },
    ];
    const control = await fetch(`${simulator}/s/${tag}/control`, { method: 'POST', body: JSON.stringify({ crew, clearFaults: true }) });
    expect(control.ok).toBe(true);

    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowsPath,
      activities: createActivities({
        pool,
        clickhouse,
        kafka: testKafka(),
        connect: testConnect(),
        endpoints: testEndpoints(),
        source: {
          url: `${simulator}/s/${tag}/astros.json`,
          connectTimeoutMs: 2_000,
          responseTimeoutMs: 5_000,
          retries: 1,
          retryMinDelayMs: 50,
          maxBodyBytes: 1024 * 1024,
          maxPeople: 1000,
        },
      }),
    });
    const summary = await worker.runUntil(
      client.workflow.execute<(i?: unknown) => Promise<IngestSummary>>(INGEST_WORKFLOW_TYPE, {
        taskQueue,
        workflowId: `ingest-${tag}`,
        args: [{}],
      }),
    );

    expect(summary.status).toBe('applied');
    expect(summary.inserted).toBe(2);
    expect(summary.validation).toMatchObject({ workflowId: `ingest-${tag}-validate-${summary.runKey}`, outcome: 'agree' });
    expect(summary.validation?.summary).toMatch(/agree/);

    // The child is a workflow of its own, completed, started by this run.
    const child = await client.workflow.getHandle(summary.validation!.workflowId).describe();
    expect(child.type).toBe('validatePipeline');
    expect(child.status.name).toBe('COMPLETED');
    expect(child.parentExecution?.workflowId).toBe(`ingest-${tag}`);

    // The snapshot replaced public.astronauts: exactly this crew is live, in both engines.
    const { rows } = await pool.query<{ person_key: string }>('select person_key from public.astronauts order by 1');
    expect(rows.map((r) => r.person_key)).toEqual(crew.map((p) => p.name.toLowerCase()).sort());

    // Leave the shared table empty for the other tests.
    await pool.query('delete from public.astronauts');
  });

  it('has a schedule of its own, created or updated idempotently', async () => {
    const scheduleId = uniqueTag('validate-schedule');
    const opts = { scheduleId, taskQueue: 'astros-ingest', interval: '15m', paused: true, workflowType: VALIDATE_WORKFLOW_TYPE, workflowId: scheduleId };
    try {
      expect(await upsertIngestSchedule(client, opts)).toBe('created');
      expect(await upsertIngestSchedule(client, { ...opts, interval: '10m' })).toBe('updated');
      const described = await client.schedule.getHandle(scheduleId).describe();
      expect(described.action.type).toBe('startWorkflow');
      expect(described.action.type === 'startWorkflow' ? described.action.workflowType : undefined).toBe(VALIDATE_WORKFLOW_TYPE);
      expect(described.spec.intervals?.[0]?.every).toBe(10 * 60 * 1000);
      expect(described.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
    } finally {
      await deleteIngestSchedule(client, scheduleId);
    }
  });
});
