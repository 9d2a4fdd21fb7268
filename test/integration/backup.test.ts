/**
 * Backup and restore of the whole pipeline, on the shared test stack, while a
 * writer commits changes (test/integration/fault-writer.ts keeps the exact
 * record of what committed):
 *
 *  1. a full backup (ClickHouse, the position, a Postgres base backup) to a
 *     directory; more changes; an incremental one (its size printed against
 *     the full one's); `backup verify` passes. The same to the stack's S3
 *     server (SeaweedFS), where a tampered object makes verify fail.
 *  2. the SCD2 mart is built; the writer goes on; the ClickHouse host is
 *     SIGKILLed and its data directory deleted; it starts empty; `backup
 *     restore` brings the tables back, rewinds the consumer groups to the
 *     stored offsets and creates the queues. Every committed change is in
 *     `<t>_changes FINAL` exactly once, validation agrees, the SCD2 mart is
 *     the one before the loss plus the new changes.
 *  3. Postgres is stopped and its data directory replaced by the base
 *     backup; `backup advance-wal`, then `astros recover`: validation agrees.
 *
 * What it breaks it brings back: ClickHouse and Postgres end running with the
 * pipeline's tables (afterAll sets the pipeline up again if a step failed).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import { listBackups, type Manifest } from '../../activities/backup/manifest.ts';
import { capturedTables, deriveOptions, type CapturedTable } from '../../catalog/derive.ts';
import { validationSpec } from '../../catalog/validation-spec.ts';
import { openStore } from '../../connectors/object-store/open.ts';
import { setupPipeline } from '../../activities/setup.ts';
import { componentsFor } from '../../stack/components/index.ts';
import { createContext } from '../../stack/lib/context.ts';
import { StackManager } from '../../stack/lib/manager.ts';
import { testTables } from '../test-tables.ts';
import { FaultWriter } from './fault-writer.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, postgres, requireEnv, runCommand, startPipelineTestWorker, testEndpoints, testKafka, uniqueTag, waitFor, type TestWorker } from './helpers.ts';

const tag = uniqueTag('bk').replace(/[^a-z0-9_]/g, '_');
const source = `public.${tag}`;
const prefix = `${tag}_`;
const taskQueue = `backup-${tag}`;
const ctx = createContext('test', () => undefined);
const manager = new StackManager(ctx, componentsFor('test'));
const localTarget = path.join(requireEnv('BACKUP_TARGET'), tag);
const s3Target = `s3://astros-backups/${tag}`;
const pgData = path.join(ctx.stateDir, 'postgres', 'data');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SEED = 100_000;

let pool: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker | undefined;
let oldPgData: string | undefined;

async function table(): Promise<CapturedTable> {
  return (await capturedTables(pool, deriveOptions(testEndpoints()))).find((t) => t.declaration.source === source)!;
}

async function astros(args: string[], timeout = '4m'): Promise<string> {
  const r = await runCommand('npx', ['tsx', 'cli/astros.ts', ...args, ...(['create', 'verify', 'restore'].includes(args[1]!) && !args.includes('--postgres-into') ? ['--timeout', timeout] : [])], {
    TASK_QUEUE: taskQueue,
    FORCE_COLOR: '0',
  });
  if (r.code !== 0) throw Object.assign(new Error(`astros ${args.join(' ')} exited ${r.code}:\n${r.text}`), { code: r.code, text: r.text });
  return r.text;
}

/** Exit status and output, for the commands expected to fail. */
async function astrosStatus(args: string[]): Promise<{ code: number | null; text: string }> {
  return runCommand('npx', ['tsx', 'cli/astros.ts', ...args, '--timeout', '4m'], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
}

/** Wait until ClickHouse shows every change committed up to `lastId`. */
async function catchUp(writer: FaultWriter, t: CapturedTable, lastId: number, what: string): Promise<void> {
  await waitFor(
    async () => {
      const [r] = await chRows<{ n: string }>(ch, `SELECT uniqExact(change_id) AS n FROM ${t.objects.names.changes} WHERE change_id <= {m:UInt64}`, { m: lastId });
      return { have: Number(r?.n ?? 0), want: writer.committed.filter((c) => c.id <= lastId).length };
    },
    (x) => x.have === x.want,
    `ClickHouse to show every change up to id ${lastId} (${what})`,
    180_000,
    500,
  );
}

async function validate(t: CapturedTable): Promise<string> {
  const acts = createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() });
  const report: ValidationReport = await new MockActivityEnvironment().run(acts.compareTable, { spec: { ...validationSpec(t.declaration, t.source, t.objects.names), buckets: 64 }, reportKey: `backup-${tag}-${Date.now()}` });
  expect(report.outcome, report.summary).toBe('agree');
  return report.summary;
}

async function dbtScd2(): Promise<unknown[]> {
  const vars = JSON.stringify({ person_key_prefix: prefix, as_of_date: '2030-01-01' });
  const { code, text } = await runCommand('bash', [path.join('scripts', 'dbt.sh'), 'run', '--select', '+dim_astronauts_scd2', '--vars', vars], {
    DBT_USE_COLORS: 'false',
    DBT_SCHEMA: tag,
    DBT_EXECUTABLE: requireEnv('DBT_EXECUTABLE'),
    CLICKHOUSE_URL: requireEnv('CLICKHOUSE_URL'),
  });
  expect(code, `dbt failed:\n${text.split('\n').slice(-30).join('\n')}`).toBe(0);
  return chRows(
    ch,
    `SELECT person_key, version_number, stint_number, craft, is_current, toString(change_op) AS change_op, closed_by_op, updated_by_run
       FROM ${tag}.dim_astronauts_scd2 ORDER BY person_key, valid_from_lsn`,
  );
}

async function manifests(target: string): Promise<Manifest[]> {
  return (await listBackups(openStore(target, testEndpoints().backup))).flatMap((e) => (e.manifest ? [e.manifest] : []));
}

const nameOf = (out: string) => /^(\d{8}T\d{9}Z-(?:full|incremental)): /m.exec(out)?.[1] ?? '';
const mbOf = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

beforeAll(async () => {
  pool = postgres();
  pool.on('error', () => undefined); // idle clients die with Postgres
  ch = clickhouse();
  // note: 32 random characters a row, so the seeded history has a size a full backup is measured against.
  await pool.query(`create table ${source} (id text primary key, change_id bigint not null, writes integer not null, note text not null default md5(random()::text))`);
  await captureTable({ source, description: 'Backup test writer table.' });
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  // Whatever failed, leave ClickHouse and Postgres running with the pipeline's objects for the next test files.
  await manager.up(['postgres', 'clickhouse']).catch((e: unknown) => console.log(`[backup] bringing the stack back: ${String(e)}`));
  const [has] = await chRows<{ n: string }>(ch, "SELECT count() AS n FROM system.tables WHERE database = 'astros' AND name = 'kafka_errors'").catch(() => [{ n: '0' }]);
  if (Number(has?.n) === 0) await setupPipeline(testEndpoints(), { declare: testTables, log: () => undefined }).catch((e: unknown) => console.log(`[backup] setup: ${String(e)}`));
  await dropCapturedTable(pool, ch, source).catch(() => undefined);
  await pool.query(`delete from public.astronauts where starts_with(person_key, $1)`, [prefix]).catch(() => undefined);
  await ch.command({ query: `DROP DATABASE IF EXISTS ${tag}` }).catch(() => undefined);
  fs.rmSync(localTarget, { recursive: true, force: true });
  await openStore(s3Target, testEndpoints().backup).remove('').catch(() => undefined);
  if (oldPgData) fs.rmSync(oldPgData, { recursive: true, force: true });
  await ch.close();
  await pool.end();
});

describe('backup and restore of the whole pipeline', () => {
  it('a restore after ClickHouse lost its data shows every change once; Postgres comes back from its base backup', { timeout: 900_000 }, async () => {
    const t0 = Date.now();
    const t = await table();
    const writer = new FaultWriter(pool, source, prefix, { keys: 200, astronautEvery: 4, pauseMs: 30 });
    // A history to back up: 100,000 changes in one transaction, through Debezium and Kafka like any other.
    const base = 10_000_000;
    await pool.query(`insert into ${source} (id, change_id, writes) select $1 || 'seed' || g, $2 + g, 1 from generate_series(1, ${SEED}) g`, [prefix, base]);
    const seeded = Array.from({ length: SEED }, (_, g) => `${base + g + 1}:c`);
    await waitFor(
      async () => Number((await chRows<{ n: string }>(ch, `SELECT count() AS n FROM ${t.objects.names.changes} WHERE change_id > ${base}`))[0]?.n ?? 0),
      (n) => n >= SEED,
      `the ${SEED} seeded changes in ClickHouse`,
      180_000,
      500,
    );
    // Settled into merged parts, as a pipeline's history is after a while: the Kafka blocks of one bulk load would
    // otherwise merge between the two backups, and a merged part is new data to an incremental backup.
    for (const x of [t.objects.names.changelog, t.objects.names.changes, t.objects.names.current]) await ch.command({ query: `OPTIMIZE TABLE ${x} FINAL` });
    console.log(`[backup] ${SEED} seeded changes streamed and merged in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    writer.start();
    await waitFor(async () => writer.lastId, (n) => n >= 100, 'the writer to commit 100 changes', 60_000, 200);

    // 1. Full (with Postgres), a few hundred more changes, incremental; verify.
    const full = nameOf(await astros(['backup', 'create', '--target', localTarget]));
    const afterFull = writer.lastId;
    await waitFor(async () => writer.lastId, (n) => n >= afterFull + 300, 'a few hundred more changes', 120_000, 200);
    const incremental = nameOf(await astros(['backup', 'create', '--incremental', '--target', localTarget]));
    const local = await manifests(localTarget);
    const [f, i] = [local.find((m) => m.name === full)!, local.find((m) => m.name === incremental)!];
    console.log(
      `[backup] full ${f.name}: ClickHouse ${mbOf(f.clickhouse.bytes)} (${f.clickhouse.files} files) + Postgres ${mbOf(f.postgres?.bytes ?? 0)}; ` +
        `incremental ${i.name} after ${writer.lastId - afterFull} changes: ClickHouse ${mbOf(i.clickhouse.bytes)} (${i.clickhouse.files} files) = ` +
        `${((100 * i.clickhouse.bytes) / f.clickhouse.bytes).toFixed(1)} % of the full one`,
    );
    expect(i.kind).toBe('incremental');
    expect(i.base).toBe(full);
    expect(f.postgres?.files.map((x) => x.name)).toEqual(expect.arrayContaining(['base.tar.gz', 'pg_wal.tar.gz']));
    expect(f.position.tables.find((p) => p.source === source)?.offsets[0]?.offset).toMatch(/^\d+$/);
    expect(i.clickhouse.bytes).toBeLessThan(0.1 * f.clickhouse.bytes);
    expect(await astros(['backup', 'verify', incremental, '--target', localTarget])).toMatch(/tables agree with the manifest/);

    // The S3-compatible server: a backup, verified; one of its objects tampered, verify fails.
    const s3 = nameOf(await astros(['backup', 'create', '--no-postgres', '--target', s3Target]));
    expect(await astros(['backup', 'verify', s3, '--target', s3Target])).toMatch(/tables agree with the manifest/);
    const store = openStore(s3Target, testEndpoints().backup);
    const victim = (await store.list(`${s3}/clickhouse/data/astros/${t.objects.names.changes.split('.')[1]}`)).find((o) => o.key.endsWith('.bin') && o.size > 64)!;
    const bytes = (await store.get(victim.key))!;
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await store.put(victim.key, bytes);
    const tampered = await astrosStatus(['backup', 'verify', s3, '--target', s3Target]);
    console.log(`[backup] verify of the tampered S3 backup (${victim.key}): exit ${tampered.code}\n${tampered.text.split('\n').filter((l) => /difference|failed|checksum/i.test(l)).slice(0, 4).join('\n')}`);
    expect(tampered.code).toBe(1);

    // 2. The mart before the loss, the writer going on, the ClickHouse host lost.
    await writer.stop();
    await catchUp(writer, t, writer.lastId, 'before the loss');
    const martBefore = await dbtScd2();
    expect(martBefore).toEqual(writer.expectedScd2());
    const beforeLoss = writer.committed.length;
    writer.start();
    await sleep(2_000);
    expect(await manager.kill('clickhouse')).toBeDefined();
    fs.rmSync(path.join(ctx.stateDir, 'clickhouse'), { recursive: true, force: true });
    await manager.up(['clickhouse']);
    const restored = await astros(['backup', 'restore', '--target', localTarget]);
    console.log(`[backup] restore:\n${restored.split('\n').filter((l) => !l.startsWith('astros backup:')).join('\n')}`);
    expect(restored).toMatch(new RegExp(`${incremental}: \\d+ ClickHouse tables restored`));
    await sleep(3_000);
    await writer.stop();
    await catchUp(writer, t, writer.lastId, 'after the restore');

    const changes = new Map(
      (await chRows<{ e: string; n: string }>(ch, `SELECT concat(toString(change_id), ':', toString(op)) AS e, count() AS n FROM ${t.objects.names.changes} FINAL GROUP BY e`)).map((r) => [r.e, Number(r.n)]),
    );
    const expected = [...seeded, ...writer.committed.flatMap(FaultWriter.events)];
    const lost = expected.filter((e) => !changes.has(e)).length;
    const twice = expected.filter((e) => (changes.get(e) ?? 0) > 1).length;
    console.log(`[backup] ${writer.committed.length} changes committed (${writer.committed.length - beforeLoss} after the mart was built, across the loss): lost ${lost}, visible twice ${twice}`);
    expect({ lost, twice, extra: changes.size - expected.length }).toEqual({ lost: 0, twice: 0, extra: 0 });
    console.log(`[backup] validation: ${await validate(t)}`);
    const martAfter = await dbtScd2();
    expect(martAfter).toEqual(writer.expectedScd2());
    expect(martAfter.length).toBeGreaterThanOrEqual(martBefore.length);

    // 3. Postgres from its base backup, into a fresh data directory; WAL past ClickHouse's; recover.
    await manager.down(['postgres']);
    oldPgData = `${pgData}.before-${tag}`;
    fs.renameSync(pgData, oldPgData);
    console.log(`[backup] ${(await astros(['backup', 'restore', full, '--target', localTarget, '--postgres-into', pgData, '--owner', 'postgres'])).trim()}`);
    await manager.up(['postgres']);
    console.log(`[backup] ${(await astros(['backup', 'advance-wal', '--url', requireEnv('PG_SUPERUSER_URL').replace(/\/postgres$/, '/astros')])).trim()}`);
    const recovered = await runCommand('npx', ['tsx', 'cli/astros.ts', 'recover', '--timeout', '5m'], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
    console.log(`[backup] recover:\n${recovered.text.split('\n').filter((l) => !/^astros: (waiting|started)/.test(l)).join('\n')}`);
    expect(recovered.code, recovered.text).toBe(0);
    expect(recovered.text).toMatch(new RegExp(`${source}: resynced [\\d,]+ rows\\b.*agree`));
    console.log(`[backup] validation after the Postgres restore: ${await validate(t)}; test took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });
});
