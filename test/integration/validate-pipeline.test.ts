/**
 * validatePipeline against the real Temporal dev server, Postgres and
 * ClickHouse (addresses from test/global-setup.ts). Divergences are injected
 * into tables this file creates in both engines (its own Postgres schema and
 * ClickHouse database, dropped afterwards), so other tests sharing the stack
 * are never disturbed; one test validates the real astronauts pipeline.
 */
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { ApplicationFailure, Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestErrorType } from '../../shared/errors.ts';
import { createPool } from '../../connectors/postgres/pool.ts';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import type { ValidationReport, ValidationSpec } from '../../shared/validation.ts';
import { migrate } from '../../connectors/postgres/migrate.ts';
import { type ValidatePipelineInput } from '../../workflows/validate-pipeline.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { INGEST_TABLE, VALIDATE_WORKFLOW_TYPE } from '../../shared/workflows.ts';
import { chRows, clickhouse, requireEnv, testEndpoints, uniqueTag, closeTestWorker, testKafka } from './helpers.ts';

const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
const tag = uniqueTag('validate');
const taskQueue = `validate-test-${tag}`;
const ROWS = 60;

let databaseUrl: string;
let pool: pg.Pool;
let ch: ClickHouseClient;
let bundle: WorkflowBundleWithSourceMap;
let nativeConnection: NativeConnection;
let connection: Connection;
let client: Client;
let counter = 0;

const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The same ROWS rows in both engines (NULL and '' notes, numerics, microsecond timestamps); ClickHouse rows get version 1. */
async function createPair(): Promise<{ table: string; spec: ValidationSpec }> {
  const table = `people_${++counter}`;
  await pool.query(`create table ${tag}.${table} (id integer primary key, name text not null, note text, amount numeric(10,2), seen_at timestamptz)`);
  await pool.query(
    `insert into ${tag}.${table}
     select g, 'person ' || g, case when g % 5 = 0 then null when g % 5 = 1 then '' else 'note ' || g end,
            g * 1.10, timestamptz '2024-03-01 00:00:00.123456+00' + g * interval '1 minute 1 microsecond'
       from generate_series(1, ${ROWS}) g`,
  );
  await ch.command({
    query: `CREATE TABLE ${tag}.${table} (id Int32, name String, note Nullable(String), amount Decimal(10, 2),
      seen_at DateTime64(6, 'UTC'), version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY id`,
  });
  await ch.command({
    query: `INSERT INTO ${tag}.${table}
      SELECT g, concat('person ', toString(g)), multiIf(g % 5 = 0, NULL, g % 5 = 1, '', concat('note ', toString(g))),
             toDecimal64(g * 110, 2) / 100, toDateTime64('2024-03-01 00:00:00.123456', 6, 'UTC') + toIntervalMicrosecond(g * 60000001), 1, 0
        FROM (SELECT toInt32(number + 1) AS g FROM numbers(${ROWS}))`,
  });
  return {
    table,
    spec: {
      source: { schema: tag, table },
      target: { database: tag, table, versionColumn: 'version', deletedColumn: 'is_deleted' },
      // Version 1 is reached at once; the snapshot LSN still tells later changes apart.
      catchUp: { mode: 'version', minVersion: '1' },
      buckets: 16,
      maxWaitMs: 2_000,
    },
  };
}

/** Insert rows into the ClickHouse copy only (a newer version wins under FINAL). */
async function chInsert(table: string, values: string): Promise<void> {
  await ch.command({ query: `INSERT INTO ${tag}.${table} (id, name, note, amount, seen_at, version, is_deleted) VALUES ${values}` });
}

async function run(input: ValidatePipelineInput): Promise<{ report?: ValidationReport; failure?: ApplicationFailure }> {
  const handle = await client.workflow.start(VALIDATE_WORKFLOW_TYPE, { taskQueue, workflowId: `${tag}-${++counter}`, args: [input] });
  try {
    return { report: (await handle.result()) as ValidationReport };
  } catch (err) {
    // The workflow's own failure, or the innermost one (an activity's) when the workflow failed through it.
    let cause: unknown = err instanceof WorkflowFailedError ? err.cause : undefined;
    while (cause instanceof Error && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
    if (cause instanceof ApplicationFailure) return { failure: cause };
    throw err;
  }
}

function failedReport(failure: ApplicationFailure | undefined): ValidationReport {
  expect(failure?.type).toBe(IngestErrorType.ValidationMismatch);
  expect(failure?.nonRetryable).toBe(true);
  return failure?.details?.[0] as ValidationReport;
}

let worker: Worker;
let workerDone: Promise<void>;

beforeAll(async () => {
  databaseUrl = requireEnv('DATABASE_URL');
  const address = requireEnv('TEMPORAL_ADDRESS');
  await migrate({ databaseUrl, schema: tag });
  pool = createPool(databaseUrl, { schema: tag, max: 4, application: 'astros-ingest' });
  ch = clickhouse();
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${tag}` });
  bundle = await bundleWorkflowCode({ workflowsPath, logger: quiet });
  nativeConnection = await NativeConnection.connect({ address });
  connection = await Connection.connect({ address });
  client = new Client({ connection });
  worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() }),
  });
  workerDone = worker.run();
});

afterAll(async () => {
  await closeTestWorker({ worker, workerDone, nativeConnection, connection, ch, pool, tag });
});

describe('validatePipeline on tables created by the test', () => {
  it('passes when both engines hold the same rows, and records the report', async () => {
    const { spec } = await createPair();
    const { report, failure } = await run({ spec });
    expect(failure).toBeUndefined();
    expect(report).toMatchObject({ outcome: 'agree', sourceRows: ROWS, targetRows: ROWS, mismatchedBuckets: 0, missing: 0, extra: 0, different: 0 });
    expect(report?.columns).toEqual(['name', 'note', 'amount', 'seen_at']);
    expect(report?.snapshotLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const { rows } = await pool.query('select outcome, source_rows, target_rows, snapshot_lsn::text as lsn, duration_ms from validation_reports where report_key = $1', [report?.reportKey]);
    expect(rows).toEqual([{ outcome: 'agree', source_rows: String(ROWS), target_rows: String(ROWS), lsn: report?.snapshotLsn, duration_ms: report?.durationMs }]);
  });

  it('names a row deleted only in ClickHouse', async () => {
    const { table, spec } = await createPair();
    await chInsert(table, `(7, 'person 7', 'note 7', 7.70, '2024-03-01 00:07:00.123463', 2, 1)`);
    const r = failedReport((await run({ spec })).failure);
    expect(r).toMatchObject({ outcome: 'mismatch', sourceRows: ROWS, targetRows: ROWS - 1, missing: 1, extra: 0, different: 0 });
    expect(r.samples).toEqual([{ kind: 'missing', key: ['7'], targetVersion: '2', deletedInTarget: true }]);
    expect(r.summary).toMatch(/1 missing in ClickHouse/);
    expect(r.summary).toMatch(/"7" \(deleted in ClickHouse\)/);
  });

  it('names values altered only in ClickHouse, NULL vs empty string included', async () => {
    const { table, spec } = await createPair();
    // id 13: a changed name; id 20: note NULL in Postgres, '' in ClickHouse; id 31: one microsecond later.
    await chInsert(
      table,
      `(13, 'person 13 (altered)', 'note 13', 14.30, '2024-03-01 00:13:00.123469', 2, 0),
       (20, 'person 20', '', 22.00, '2024-03-01 00:20:00.123476', 2, 0),
       (31, 'person 31', '', 34.10, '2024-03-01 00:31:00.123488', 2, 0)`,
    );
    const r = failedReport((await run({ spec })).failure);
    expect(r).toMatchObject({ outcome: 'mismatch', sourceRows: ROWS, targetRows: ROWS, missing: 0, extra: 0, different: 3 });
    expect(r.samples.map((s) => [s.kind, ...s.key])).toEqual([
      ['different', '13'],
      ['different', '20'],
      ['different', '31'],
    ]);
  });

  it('names a row present only in ClickHouse', async () => {
    const { table, spec } = await createPair();
    await chInsert(table, `(999, 'ghost', NULL, 1.00, '2024-03-01 00:00:00', 2, 0)`);
    const r = failedReport((await run({ spec })).failure);
    expect(r).toMatchObject({ outcome: 'mismatch', sourceRows: ROWS, targetRows: ROWS + 1, missing: 0, extra: 1, different: 0 });
    expect(r.samples).toEqual([{ kind: 'extra', key: ['999'], targetVersion: '2' }]);
  });

  it('buckets negative and extreme integer keys alike in both engines, and names one that differs', async () => {
    const table = `signed_${++counter}`;
    const keys = '(-9223372036854775808), (-4097), (9223372036854775807)';
    await pool.query(`create table ${tag}.${table} (id bigint primary key, name text not null)`);
    await pool.query(`insert into ${tag}.${table} select g, 'n' || g from (select generate_series(-40, 40)::bigint union all values ${keys}) s(g)`);
    await ch.command({
      query: `CREATE TABLE ${tag}.${table} (id Int64, name String, version UInt64, is_deleted UInt8)
        ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY id`,
    });
    await ch.command({
      query: `INSERT INTO ${tag}.${table} SELECT g, concat('n', toString(g)), 1, 0
        FROM (SELECT toInt64(number) - 40 AS g FROM numbers(81) UNION ALL SELECT g FROM values('g Int64', ${keys}))`,
    });
    const spec: ValidationSpec = {
      source: { schema: tag, table },
      target: { database: tag, table, versionColumn: 'version', deletedColumn: 'is_deleted' },
      catchUp: { mode: 'version', minVersion: '1' },
      buckets: 16,
      maxWaitMs: 2_000,
    };
    const agreed = await run({ spec });
    expect(agreed.failure).toBeUndefined();
    expect(agreed.report).toMatchObject({ outcome: 'agree', sourceRows: 84, targetRows: 84 });

    await ch.command({ query: `INSERT INTO ${tag}.${table} VALUES (-17, 'altered', 2, 0), (-9223372036854775808, 'altered', 2, 0)` });
    const r = failedReport((await run({ spec })).failure);
    expect(r).toMatchObject({ outcome: 'mismatch', missing: 0, extra: 0, different: 2 });
    expect(r.samples.map((s) => s.key[0]).sort()).toEqual(['-17', '-9223372036854775808']);
  });

  it('does not count a ClickHouse change newer than the snapshot LSN as a mismatch', async () => {
    const { table, spec } = await createPair();
    await chInsert(table, `(5, 'person 5 (renamed later)', NULL, 5.50, '2024-03-01 00:05:00.123461', ${2n ** 62n}, 0)`);
    const { report, failure } = await run({ spec });
    expect(failure).toBeUndefined();
    expect(report).toMatchObject({ outcome: 'agree', changedAfterSnapshot: 1, mismatchedBuckets: 1 });
  });

  it('reports a consumer that is behind as lag, not as a mismatch', async () => {
    const { table, spec } = await createPair();
    // A real divergence too: lag must not be reported as corruption, nothing is compared.
    await chInsert(table, `(3, 'person 3', 'note 3', 3.30, '2024-03-01 00:03:00.123459', 2, 1)`);
    const behind: ValidationSpec = { ...spec, catchUp: { mode: 'version' }, maxWaitMs: 1_500, pollMs: 200 };
    const t0 = Date.now();
    const { report, failure } = await run({ spec: behind });
    expect(failure).toBeUndefined();
    expect(report).toMatchObject({ outcome: 'lag', sourceRows: null, targetRows: null, missing: 0, samples: [] });
    expect(report?.catchUp.caughtUp).toBe(false);
    expect(report?.catchUp.waitedMs).toBeGreaterThanOrEqual(1_000);
    expect(report?.catchUp.detail).toMatch(/max\(version\) is 0\/2, needs [0-9A-F]+\/[0-9A-F]+ \(\d+ bytes of WAL behind\)/);
    expect(report?.summary).toMatch(/lag, not a data mismatch/);
    expect(Date.now() - t0).toBeLessThan(30_000);
    const { rows } = await pool.query('select outcome from validation_reports where report_key = $1', [report?.reportKey]);
    expect(rows).toEqual([{ outcome: 'lag' }]);

    const strict = await run({ spec: behind, failOnLag: true });
    expect(strict.failure?.type).toBe(IngestErrorType.ReplicationLag);
  });

  it('rejects a table that does not exist, without retrying', async () => {
    const { spec } = await createPair();
    const { failure } = await run({ spec: { ...spec, source: { schema: tag, table: 'nope' } } });
    expect(failure?.type).toBe(IngestErrorType.InvalidInput);
    expect(failure?.message).toMatch(/does not exist/);
  });
});

describe('validatePipeline on the astronauts CDC pipeline', () => {
  it('agrees once ClickHouse has applied a fresh change', async (ctx) => {
    const [exists] = await chRows<{ n: string }>(ch, `SELECT count() AS n FROM system.tables WHERE database = 'astros' AND name = 'astronauts'`);
    if (exists?.n !== '1') ctx.skip();
    const key = `validate test ${tag}`.replaceAll('_', ' ');
    const { rows } = await pool.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
    await pool.query(`insert into public.astronauts (person_key, name, craft, updated_by_run) values ($1, $1, 'ISS', $2)`, [key, tag]);
    try {
      // The insert's change LSN is above `before`: max(version) >= before means ClickHouse has applied it.
      const before = rows[0]?.lsn ?? '0/0';
      const catalogSpec = await validationSpecFor(pool, INGEST_TABLE, testEndpoints().groupPrefix);
      const { report, failure } = await run({ spec: { ...catalogSpec, catchUp: { mode: 'version', minVersion: before }, maxWaitMs: 90_000 } });
      expect(failure?.message).toBeUndefined();
      expect(report?.outcome).toBe('agree');
      expect(report?.sourceRows).toBeGreaterThan(0);

      // No input: the catalog's spec for the ingest's table (Debezium's slot position and the ClickHouse consumer group).
      const slot = await run({});
      expect(slot.failure?.message).toBeUndefined();
      expect(slot.report?.outcome).toBe('agree');
    } finally {
      await pool.query('delete from public.astronauts where person_key = $1', [key]);
    }
  });
});
