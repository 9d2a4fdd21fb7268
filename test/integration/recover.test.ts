/**
 * Losing a replication slot, on the test stack but never the pipeline's own:
 * a second connector with its own slot captures a test table, is stopped, and
 * Postgres invalidates its slot once more WAL than the test profile's
 * max_slot_wal_keep_size (256MB) has been written past it. Then the loss is
 * reported (the lag report, validation's catch-up) with the fix named, and
 * `astros recover --connector <it> --table <t>` brings a new slot, the
 * connector streaming again, and the table resynced with validation agreeing.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidationActivities } from '../../activities/pipeline-validation/activities.ts';
import { connectorStatus, stopConnector } from '../../activities/kafka-connect.ts';
import { pipelineNames, readConnectorFile } from '../../catalog/names.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { formatLagReport, lagReport } from '../../pipeline/lag.ts';
import { registerConnectorSpec } from '../../pipeline/setup.ts';
import { slotState } from '../../pipeline/slot-health.ts';
import { captureTable, clickhouse, dropCapturedTable, requireEnv, runCommand, startPipelineTestWorker, testEndpoints, uniqueTag, waitFor, type TestWorker } from './helpers.ts';

const tag = uniqueTag('rc');
const source = `public.recover_${tag}`;
const junk = `public.junk_${tag}`;
const connector = `astros-recover-${tag.replaceAll('_', '-')}`;
const slot = `astros_recover_${tag}`;
const taskQueue = `recover-${tag}`;

let pool: pg.Pool;
let su: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker;
const connectUrl = () => requireEnv('CONNECT_URL');

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 4 });
  su = new pg.Pool({ connectionString: requireEnv('PG_SUPERUSER_URL').replace(/\/postgres$/, '/astros'), max: 2 });
  ch = clickhouse();
  await pool.query(`create table ${source} (id bigint primary key, v text)`);
  await pool.query(`insert into ${source} select g, 'v' || g from generate_series(1, 5000) g`);
  await captureTable({ source });
  // The test's own connector and slot: the pipeline's connector configuration with another name, slot and topic prefix.
  const base = readConnectorFile();
  // Without the signal table (the pipeline's snapshots are not for it) and the heartbeat's write.
  const { 'signal.data.collection': _signal, 'heartbeat.action.query': _beat, ...rest } = base.config;
  const config: Record<string, string> = { ...rest, 'slot.name': slot, 'topic.prefix': `astros_rc_${tag}`, 'table.include.list': source, 'snapshot.mode': 'no_data' };
  await registerConnectorSpec(connectUrl(), { name: connector, config }, () => undefined);
  await waitFor(() => slotState(pool, slot), (s) => s.found && s.active === true, `slot ${slot} in use`, 90_000, 500);
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await fetch(`${connectUrl()}/connectors/${connector}`, { method: 'DELETE' }).catch(() => undefined);
  await waitFor(() => slotState(pool, slot), (s) => !s.active, 'the test slot released', 30_000, 500).catch(() => undefined);
  await su.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [slot]).catch(() => undefined);
  await pool.query(`drop table if exists ${junk}`).catch(() => undefined);
  await dropCapturedTable(pool, ch, source);
  await ch?.close();
  await su?.end();
  await pool?.end();
});

describe('a lost replication slot', () => {
  it('is reported with the fix named, and astros recover brings the stream back with validation agreeing', { timeout: 240_000 }, async () => {
    await stopConnector(connectUrl(), connector);
    await waitFor(() => connectorStatus(connectUrl(), connector), (s) => s === 'STOPPED', 'the test connector stopped', 60_000, 500);
    await waitFor(() => slotState(pool, slot), (s) => !s.active, 'the test slot released', 60_000, 500);

    // 300 MB of WAL past the stopped slot: uncompressed out-of-line values write every byte.
    await pool.query(`create table ${junk} (id int, v text)`);
    await pool.query(`alter table ${junk} alter column v set storage external`);
    await pool.query(`insert into ${junk} select g, repeat(md5(g::text), 3125) from generate_series(1, 3000) g`);
    // The pipeline's own slot must be safe before the checkpoint that invalidates the test's (it confirms every second).
    await waitFor(
      () => su.query<{ main: string; test: string }>(`select (select safe_wal_size from pg_replication_slots where slot_name = $1)::text as main, (select safe_wal_size from pg_replication_slots where slot_name = $2)::text as test`, [pipelineNames.slot, slot]).then((r) => r.rows[0]!),
      (r) => Number(r.main) > 100 * 1024 * 1024 && Number(r.test) < 0,
      'the pipeline slot caught up past the junk while the test slot is beyond the limit',
      90_000,
      500,
    );
    await waitFor(
      async () => {
        await su.query('checkpoint');
        return slotState(pool, slot);
      },
      (s) => s.walStatus === 'lost',
      'the test slot invalidated',
      60_000,
      1_000,
    );
    expect((await slotState(pool, pipelineNames.slot)).walStatus).not.toBe('lost');

    // Reported: the lag report and validation's catch-up name the loss and the command that recovers.
    const e = testEndpoints();
    const report = formatLagReport(await lagReport({ postgresUrl: e.databaseUrl, kafkaBrokers: e.kafkaBrokers, clickhouseUrl: e.clickhouseUrl, groupPrefix: e.groupPrefix, slot, tables: [] }));
    expect(report).toMatch(new RegExp(`replication slot ${slot} is lost: .*run npm run recover`));
    const spec = await validationSpecFor(pool, source, e.groupPrefix);
    const acts = createValidationActivities({ pool, clickhouse: ch, kafkaBrokers: e.kafkaBrokers.split(',') });
    await expect(new MockActivityEnvironment().run(acts.compareTable, { spec: { ...spec, catchUp: { mode: 'slot' as const, slotName: slot } }, reportKey: `recover-${tag}` })).rejects.toThrow(
      /is lost: .*npm run recover/,
    );

    // Recovered: a new slot, the connector streaming from it, the table resynced and validated.
    const r = await runCommand('npx', ['tsx', 'cli/astros.ts', 'recover', '--connector', connector, '--table', source, '--timeout', '3m'], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
    console.log(`[recover] ${r.text}`);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toMatch(new RegExp(`slot ${slot}: was lost, dropped; the connector streams from a new slot`));
    expect(r.text).toMatch(new RegExp(`${source}: resynced 5,000 rows; .*: agree`));
    const after = await slotState(pool, slot);
    expect(after.found && after.walStatus !== 'lost' && after.active).toBe(true);
    expect(await connectorStatus(connectUrl(), connector)).toBe('RUNNING');
  });
});
