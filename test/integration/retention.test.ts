/**
 * Retention on the real stack: the TTLs ClickHouse holds and the retention.ms
 * Kafka holds are the settings' (setup applied them), follow a changed
 * setting on the next setup and print what changed; expired rows leave the
 * per-message record while `<t>_changes` keeps them; a TTL on the current
 * state is removed and reported; a topic's other overrides survive; offsets
 * older than ClickHouse keeps their rows are left out of the accounting.
 * Side objects (database, topic, group) are this file's own.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveOptions, deriveTables, reconcileClickHouse, SHARED_PLAN } from '../../catalog/derive.ts';
import { applyPlan, liveTables, planTable, ttlActions, type Action } from '../../catalog/reconcile.ts';
import { topicRetentionMs, ttlExpression, ttlOf, type Retention } from '../../catalog/retention.ts';
import { listMigrations, render, statements } from '../../connectors/clickhouse/migrate.ts';
import type { Endpoints } from '../../config/load.ts';
import { setupPipeline } from '../../activities/setup.ts';
import { topicSpecs } from '../../activities/apply-catalog.ts';
import { ensureTopics } from '../../connectors/kafka/topics.ts';
import { accountOffsets } from '../../activities/dead-letters/topic-accounting.ts';
import { chRows, clickhouse, postgres, testEndpoints, uniqueTag, testKafka } from './helpers.ts';

const day = 86_400_000;
const tag = uniqueTag('ret').replace(/[^a-z0-9_]/g, '_');
const side = { db: `ret_${tag}`, groups: `ret-${tag}` };
const topic = `retention-test-${tag}`;
let ch: ClickHouseClient;
let pool: pg.Pool;
let admin: Admin;
let kafka: Kafka;

beforeAll(async () => {
  ch = clickhouse();
  pool = postgres();
  kafka = new Kafka({ clientId: `retention-${tag}`, brokers: testEndpoints().kafkaBrokers, logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  // The shared objects as the numbered migration creates them (kafka_errors without a TTL).
  const shared = listMigrations().find((f) => f.name.startsWith('100_'))!;
  for (const query of statements(render(shared, { CLICKHOUSE_DATABASE: side.db }))) await ch.command({ query });
});

afterAll(async () => {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${side.db} SYNC` }).catch(() => undefined);
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  await ch.close();
  await pool.end();
});

async function engineTtl(table: string): Promise<string | undefined> {
  const [db, name] = table.split('.');
  const [r] = await chRows<{ e: string }>(ch, 'SELECT engine_full AS e FROM system.tables WHERE database = {db:String} AND name = {name:String}', { db, name });
  if (!r) throw new Error(`${table} does not exist`);
  return ttlOf(r.e);
}

/** A TTL expression as ClickHouse prints it (`INTERVAL 30 DAY` -> `toIntervalDay(30)`). */
async function formatted(expr: string | undefined): Promise<string | undefined> {
  if (expr === undefined) return undefined;
  const [r] = await chRows<{ f: string }>(ch, 'SELECT formatQuerySingleLine({q:String}) AS f', { q: `SELECT ${expr}` });
  return r!.f.replace(/^SELECT /, '');
}

async function topicConfig(name: string): Promise<Record<string, { value: string; source: number }>> {
  const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name }] });
  return Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, { value: e.configValue, source: e.configSource }]));
}

/** The pipeline's astronauts objects hold `r`: TTLs in ClickHouse and retention.ms (set on the topic itself) in Kafka. */
async function expectApplied(r: Retention): Promise<void> {
  expect(await engineTtl('astros.astronauts_changelog')).toBe(await formatted(ttlExpression('ingested_at', r.changelogMs)));
  expect(await engineTtl('astros.kafka_errors')).toBe(await formatted(ttlExpression('received_at', r.errorsMs)));
  expect(await engineTtl('astros.astronauts_changes')).toBeUndefined();
  expect(await engineTtl('astros.astronauts')).toBeUndefined();
  expect((await topicConfig('astros.public.astronauts'))['retention.ms']).toEqual({ value: topicRetentionMs(r.topicMs), source: 1 });
}

describe('retention', () => {
  it('setup applies the settings to the running pipeline, changes them when they change, and prints what it changed', { timeout: 150_000 }, async () => {
    const e = testEndpoints();
    await expectApplied(e.retention);
    const changed: Endpoints = { ...e, retention: { changelogMs: 2 * day, errorsMs: 0, topicMs: 3 * day } };
    const log: string[] = [];
    try {
      await setupPipeline(changed, { log: (m) => log.push(m) });
      await expectApplied(changed.retention);
      const said = log.join('\n');
      expect(said).toContain(`[clickhouse] public.astronauts: astros.astronauts_changelog: TTL ${await formatted(ttlExpression('ingested_at', e.retention.changelogMs))} -> ingested_at + INTERVAL 2 DAY`);
      if (e.retention.errorsMs > 0) expect(said).toContain(`[clickhouse] ${SHARED_PLAN}: astros.kafka_errors: remove TTL ${await formatted(ttlExpression('received_at', e.retention.errorsMs))}`);
      expect(said).toContain(`[kafka] astros.public.astronauts: retention.ms ${topicRetentionMs(e.retention.topicMs)} -> ${3 * day} (3d)`);
      // Applied means nothing left to do: the plan and the topics are in step.
      const tables = await deriveTables(pool, [{ source: 'public.astronauts', exclude: [], columns: {} }], deriveOptions(changed));
      expect((await reconcileClickHouse(ch, tables, () => undefined, true)).flatMap((p) => p.actions)).toEqual([]);
      expect(await ensureTopics(testKafka(), topicSpecs(tables), () => undefined, true)).toEqual([]);
    } finally {
      await setupPipeline(e, { log: () => undefined });
    }
    await expectApplied(e.retention);
  });

  it('expired rows leave the per-message record while <t>_changes keeps them; a TTL on the current state is removed and reported', { timeout: 60_000 }, async () => {
    const retention: Retention = { changelogMs: day, errorsMs: 90 * day, topicMs: 7 * day };
    const [t] = await deriveTables(pool, [{ source: 'public.astronauts', exclude: [], columns: {} }], deriveOptions({ ...testEndpoints(), retention }, { database: side.db, groupPrefix: side.groups }));
    const o = t!.objects;
    // Storage, its feed and TTLs only: no consumer (nothing here reads the topic).
    const storageOnly = (actions: Action[]) => actions.filter((a) => a.kind !== 'create-consumer' && a.kind !== 'recreate-consumer');
    const reconcile = async () => {
      const live = await liveTables(ch, side.db);
      const plan = await planTable(ch, o, live);
      const errors = await ttlActions(ch, o.errors.name, o.errors.ttl, live.get(o.errors.name));
      const actions = [...storageOnly(plan.actions), ...errors];
      await applyPlan(ch, { table: plan.table, actions }, () => undefined);
      return actions;
    };
    const first = await reconcile();
    expect(first.filter((a) => a.kind === 'ttl').map((a) => a.object)).toEqual([o.errors.name]); // the record is created with its TTL
    expect(await engineTtl(o.changelog.name)).toBe('ingested_at + toIntervalDay(1)');
    expect(await engineTtl(o.errors.name)).toBe('received_at + toIntervalDay(90)');

    const cols = 'person_key, name, craft, updated_by_run, op, lsn, commit_ts, captured_ts, kafka_partition, kafka_offset, ingested_at';
    await ch.command({
      query: `INSERT INTO ${o.changelog.name} (${cols}) VALUES
        ('${tag}_old', 'Old', 'ISS', 'r', 'c', 1, now64(3) - INTERVAL 2 DAY, now64(3) - INTERVAL 2 DAY, 0, 1, now64(3) - INTERVAL 2 DAY),
        ('${tag}_new', 'New', 'ISS', 'r', 'c', 2, now64(3), now64(3), 0, 2, now64(3))`,
    });
    await ch.command({ query: `OPTIMIZE TABLE ${o.changelog.name} FINAL` });
    const keys = async (from: string) => (await chRows<{ k: string }>(ch, `SELECT person_key AS k FROM ${from} ORDER BY k`)).map((r) => r.k);
    expect(await keys(o.changelog.name)).toEqual([`${tag}_new`]);
    expect(await keys(`${o.changes.name} FINAL`)).toEqual([`${tag}_new`, `${tag}_old`]);

    await ch.command({ query: `ALTER TABLE ${o.current.name} MODIFY TTL commit_ts + INTERVAL 1 DAY` });
    const fixed = await reconcile();
    expect(fixed.map((a) => `${a.kind} ${a.object}`)).toEqual([`drift ${o.current.name}`, `ttl ${o.current.name}`]);
    expect(await engineTtl(o.current.name)).toBeUndefined();
    expect(await reconcile()).toEqual([]);
  });

  it("topics: created with retention.ms, changed when the setting changes with the topic's other overrides kept, partitions fixed; accounting leaves out what ClickHouse no longer keeps", { timeout: 60_000 }, async () => {
    expect(await ensureTopics(testKafka(), [{ topic, retentionMs: 3_600_000 }], () => undefined)).toEqual([`create topic ${topic} (retention 1h)`]);
    expect((await topicConfig(topic))['retention.ms']).toEqual({ value: '3600000', source: 1 });
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: '3600000' }, { name: 'max.message.bytes', value: '2097152' }] }] });
    expect(await ensureTopics(testKafka(), [{ topic, retentionMs: 0 }], () => undefined, true)).toEqual([`${topic}: retention.ms 3600000 -> -1 (forever)`]);
    expect((await topicConfig(topic))['retention.ms']!.value).toBe('3600000'); // a dry run changes nothing
    expect(await ensureTopics(testKafka(), [{ topic, retentionMs: 0 }], () => undefined)).toHaveLength(1);
    const after = await topicConfig(topic);
    expect([after['retention.ms'], after['max.message.bytes']]).toEqual([
      { value: '-1', source: 1 },
      { value: '2097152', source: 1 },
    ]);
    expect(await ensureTopics(testKafka(), [{ topic, retentionMs: 0 }], () => undefined)).toEqual([]);
    // Its partitions are fixed: another count is refused (a dry run too), naming the way out, and nothing changes.
    for (const dryRun of [true, false]) {
      await expect(ensureTopics(testKafka(), [{ topic, retentionMs: 0, partitions: 3 }], () => undefined, dryRun)).rejects.toThrow(/^topic \S+ has 1 partition\(s\) but its table declares 3: .*declare partitions: 1 again/);
    }
    expect((await admin.fetchTopicOffsets(topic)).length).toBe(1);

    // Three messages from two days ago, two from now: with rows kept for a day, the first three are left out.
    const producer = kafka.producer();
    await producer.connect();
    const old = String(Date.now() - 2 * day);
    await producer.send({ topic, messages: [...['a', 'b', 'c'].map((value) => ({ value, timestamp: old })), ...['d', 'e'].map((value) => ({ value }))] });
    await producer.disconnect();
    const names = { topic, group: `${side.groups}-accounting`, changelog: `${side.db}.accounting_changelog`, database: side.db };
    await ch.command({ query: `CREATE TABLE IF NOT EXISTS ${names.changelog} (kafka_partition UInt32, kafka_offset UInt64) ENGINE = MergeTree ORDER BY (kafka_partition, kafka_offset)` });
    expect(await accountOffsets(ch, kafka, names, {}, 0, day)).toMatchObject({ from: '3', to: '5', expiredFrom: '0', parsed: 0, errors: 0, skipped: 0, pending: 2 });
    expect(await accountOffsets(ch, kafka, names, {}, 0, 0)).toMatchObject({ from: '0', to: '5', pending: 5 });
  });
});
