/**
 * CDC semantics on the real pipeline (issue 4): Postgres -> Debezium (pgoutput)
 * -> Kafka (Avro, registry) -> ClickHouse Kafka engine -> changelog + current
 * state (ReplacingMergeTree(version = LSN, is_deleted), read with FINAL).
 *
 * Every test writes its own unique keys (or, for the schema change, its own
 * table) and checks the data in ClickHouse against Postgres. Tables used:
 *   public.cdc_types_probe  the self-test table, declared in the catalog by the
 *                           tests (test/test-tables.ts), so its objects are
 *                           derived exactly like public.astronauts'. Not
 *                           astronauts itself: an ingest run by another test on
 *                           the shared stack deletes every astronaut missing
 *                           from the feed (departures), test rows included.
 *   public.cdc_evo_<tag>    created, captured through the catalog and dropped
 *                           here (ALTER TABLE ... ADD COLUMN)
 *
 * The restart test stops and starts Kafka Connect and the ClickHouse host
 * through the stack manager (only processes the stack started) and always
 * brings them back up.
 *
 * Schema changes are applied by the pipeline itself (workflows/schema-changes.ts,
 * test/integration/schema-changes.test.ts); the ADD COLUMN test here checks the
 * catalog's reconcile underneath it: the queue recreated with the same
 * consumer group resumes from the committed offsets with the new column.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import crypto from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentsFor } from '../../stack/components/index.ts';
import { createContext } from '../../stack/lib/context.ts';
import { StackManager } from '../../stack/lib/manager.ts';
import { createSql } from '../../catalog/clickhouse-create.ts';
import { tableObjects } from '../../catalog/clickhouse-objects.ts';
import type { SourceColumn } from '../../catalog/introspect.ts';
import { tableNames } from '../../shared/names.ts';
import { deriveOptions, deriveTables } from '../../catalog/derive.ts';
import { applyPlan, liveTables, planTable } from '../../catalog/reconcile.ts';
import { consumerServerSettings } from '../../catalog/consumer-settings.ts';
import { behind, committedOffsets, topicEnds } from '../../connectors/kafka/offsets.ts';
import { captureTable, chRows, dropCapturedTable, clickhouse, kafkaConsumerReport, postgres, requireEnv, testEndpoints, uniqueTag, waitFor } from './helpers.ts';

const tag = uniqueTag('cdc');
let ch: ClickHouseClient;
let pool: pg.Pool;
const kafka = new Kafka({ clientId: `cdc-test-${tag}`, brokers: requireEnv('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING });
const registryCcompat = `${requireEnv('REGISTRY_URL')}/apis/ccompat/v7`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

beforeAll(async () => {
  ch = clickhouse();
  pool = postgres();
  await pool.query('select 1');
});

afterAll(async () => {
  await pool.query(`delete from public.cdc_types_probe where probe_key like $1`, [`${tag}%`]).catch(() => undefined);
  await ch.close();
  await pool.end();
});

// ---------------------------------------------------------------- helpers

interface Probe {
  probe_key: string;
  label: string | null;
  counter: number;
}

async function pgProbe(prefix: string): Promise<Probe[]> {
  const { rows } = await pool.query<Probe>(`select probe_key, label, counter from public.cdc_types_probe where probe_key like $1 order by probe_key collate "C"`, [
    `${prefix}%`,
  ]);
  return rows;
}

/** Live rows in ClickHouse's current state for the key prefix (FINAL drops replaced and deleted rows). */
function chLive(prefix: string): Promise<Probe[]> {
  return chRows<Probe>(ch, `SELECT probe_key, label, counter FROM astros.cdc_types_probe FINAL WHERE startsWith(probe_key, {p:String}) ORDER BY probe_key`, {
    p: prefix,
  });
}

async function insertProbe(key: string, label: string | null, counter = 0): Promise<void> {
  await pool.query(`insert into public.cdc_types_probe (probe_key, label, counter) values ($1, $2, $3)`, [key, label, counter]);
}

/** Wait until ClickHouse's current state for the prefix equals Postgres (rows and values). */
async function waitInSync(prefix: string, what: string, timeoutMs = 120_000): Promise<Probe[]> {
  const want = await pgProbe(prefix);
  return waitFor(() => chLive(prefix), (rows) => JSON.stringify(rows) === JSON.stringify(want), what, timeoutMs, 300);
}

function stack(): StackManager {
  return new StackManager(createContext('test', () => undefined), componentsFor('test'));
}

async function connectorRunning(): Promise<boolean> {
  const res = await fetch(`${requireEnv('CONNECT_URL')}/connectors/astros-postgres/status`).catch(() => undefined);
  if (!res || res.status !== 200) return false;
  const s = (await res.json()) as { connector: { state: string }; tasks: { state: string }[] };
  return s.connector.state === 'RUNNING' && s.tasks.length > 0 && s.tasks.every((t) => t.state === 'RUNNING');
}

/**
 * Stop one component through the stack manager, run `during`, always start it
 * again. The stack is shared: another test run's global setup may start the
 * component while it is down (and then our start fails); what counts is that
 * it is healthy again afterwards.
 */
async function restart(component: 'connect' | 'clickhouse' | 'registry', during: () => Promise<void>): Promise<void> {
  const m = stack();
  const c = componentsFor('test').find((x) => x.name === component)!;
  const bringUp = async (): Promise<void> => {
    try {
      await m.up([component]);
    } catch (err) {
      const ok = await waitFor(() => c.healthy(m.ctx), (h) => h, `${component} healthy again`, 180_000, 1000).catch(() => false);
      if (!ok) throw err;
    }
  };
  try {
    await m.down([component]);
    await during();
  } finally {
    await bringUp();
  }
}

/**
 * A stream of single-row changes for `keys` keys until `stop()` is called:
 * inserts, updates and deletes (and re-inserts), each its own transaction.
 * Returns the number of changes written.
 */
function changeStream(prefix: string, keys: number, everyMs: number): { stop: () => Promise<number> } {
  let running = true;
  let n = 0;
  const done = (async () => {
    const live = new Set<string>();
    while (running) {
      const key = `${prefix}_${crypto.randomInt(keys)}`;
      if (!live.has(key)) {
        await insertProbe(key, `label-${n}`, n);
        live.add(key);
      } else if (crypto.randomInt(4) === 0) {
        await pool.query('delete from public.cdc_types_probe where probe_key = $1', [key]);
        live.delete(key);
      } else {
        await pool.query(`update public.cdc_types_probe set label = $2, counter = $3 where probe_key = $1`, [key, `label-${n}`, n]);
      }
      n++;
      await sleep(everyMs);
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

// ---------------------------------------------------------------- 0. the engine's consumer threads

describe('the ClickHouse host', () => {
  // chDB's own pool of 2 lets one queue stream at a time: a new queue then waited behind busy ones for over 90 s.
  it('streams its Kafka queues in parallel: the message-broker pool is sized as a server, not as chDB', async () => {
    const [row] = await chRows<{ value: string }>(ch, `SELECT value FROM system.server_settings WHERE name = 'background_message_broker_schedule_pool_size'`);
    const want = consumerServerSettings.find((s) => s.name === 'background_message_broker_schedule_pool_size')!.value;
    expect(Number(row!.value)).toBe(want);
    expect(want).toBeGreaterThanOrEqual(16);
  });
});

// ---------------------------------------------------------------- 1. ordering, deletes, duplicates

describe('inserts, updates, deletes and ordering', () => {
  const p = `${tag}_ord`;

  it('applies insert, update and delete; the changelog keeps every event in LSN order', async () => {
    const k = `${p}_basic`;
    await insertProbe(k, 'ISS');
    await pool.query(`update public.cdc_types_probe set label = 'Tiangong', counter = 1 where probe_key = $1`, [k]);
    await waitFor(() => chLive(k), (r) => r[0]?.label === 'Tiangong', `update of ${k}`);
    await pool.query('delete from public.cdc_types_probe where probe_key = $1', [k]);
    await waitFor(() => chLive(k), (r) => r.length === 0, `delete of ${k}`);

    const log = await chRows<{ op: string; label: string; is_deleted: number }>(
      ch,
      `SELECT op, label, is_deleted FROM astros.cdc_types_probe_changelog WHERE probe_key = {k:String} ORDER BY lsn`,
      { k },
    );
    expect(log.map((e) => [e.op, e.label, e.is_deleted])).toEqual([
      ['c', 'ISS', 0],
      ['u', 'Tiangong', 0],
      // REPLICA IDENTITY FULL: the delete event carries the last values, not empty ones.
      ['d', 'Tiangong', 1],
    ]);
    // The delete is a row with is_deleted = 1 (not a tombstone); only FINAL hides the key.
    const raw = await chRows<{ deleted: number }>(ch, `SELECT max(is_deleted) AS deleted FROM astros.cdc_types_probe WHERE probe_key = {k:String}`, { k });
    expect(raw[0]!.deleted).toBe(1);
  });

  it('keeps the latest of many updates to one key, within one transaction and across transactions', async () => {
    const inTx = `${p}_intx`;
    const acrossTx = `${p}_across`;
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`insert into public.cdc_types_probe (probe_key, label, counter) values ($1, 'v0', 0)`, [inTx]);
      for (let i = 1; i <= 25; i++) await client.query(`update public.cdc_types_probe set label = $2, counter = $3 where probe_key = $1`, [inTx, `v${i}`, i]);
      await client.query('commit');
    } finally {
      client.release();
    }
    await insertProbe(acrossTx, 'v0');
    for (let i = 1; i <= 25; i++) await pool.query(`update public.cdc_types_probe set label = $2, counter = $3 where probe_key = $1`, [acrossTx, `v${i}`, i]);

    const rows = await waitInSync(p, 'latest versions of the update keys');
    expect(rows.find((r) => r.probe_key === inTx)).toMatchObject({ label: 'v25', counter: 25 });
    expect(rows.find((r) => r.probe_key === acrossTx)).toMatchObject({ label: 'v25', counter: 25 });
    // Every change has its own LSN (also inside one transaction), so the versions are distinct and ordered.
    const log = await chRows<{ key: string; distinct_lsn: string; last: string }>(
      ch,
      `SELECT probe_key AS key, uniqExact(lsn) AS distinct_lsn, argMax(label, lsn) AS last
         FROM astros.cdc_types_probe_changelog WHERE probe_key IN ({a:String}, {b:String}) GROUP BY probe_key ORDER BY key`,
      { a: acrossTx, b: inTx },
    );
    expect(log).toHaveLength(2);
    for (const r of log) {
      expect(Number(r.distinct_lsn)).toBe(26);
      expect(r.last).toBe('v25');
    }
  });

  it('makes a deleted then re-inserted key live again', async () => {
    const k = `${p}_again`;
    await insertProbe(k, 'First Stint');
    await pool.query('delete from public.cdc_types_probe where probe_key = $1', [k]);
    await insertProbe(k, 'Second Stint', 2);
    const rows = await waitFor(() => chLive(k), (r) => r[0]?.label === 'Second Stint', `re-insert of ${k}`);
    expect(rows).toEqual([{ probe_key: k, label: 'Second Stint', counter: 2 }]);
  });

  it('never lets a late duplicate of an older event undo a delete (a late row, and a full re-consumption)', async () => {
    const k = `${p}_late`;
    const keep = `${p}_keep`;
    await insertProbe(k, 'ISS');
    await insertProbe(keep, 'ISS');
    await pool.query(`update public.cdc_types_probe set label = 'Soyuz' where probe_key = $1`, [k]);
    await pool.query('delete from public.cdc_types_probe where probe_key = $1', [k]);
    await waitInSync(p, 'the delete before the late duplicates');

    // (a) A redelivered old event: the insert's row again, with its own (older) LSN as version.
    const [first] = await chRows<{ lsn: string }>(ch, `SELECT toString(min(lsn)) AS lsn FROM astros.cdc_types_probe_changelog WHERE probe_key = {k:String}`, { k });
    await ch.command({
      query: `INSERT INTO astros.cdc_types_probe (probe_key, label, counter, commit_ts, version, is_deleted)
              VALUES ({k:String}, 'Late Duplicate', 0, now64(3), {v:UInt64}, 0)`,
      query_params: { k, v: first!.lsn },
    });
    expect(await chLive(k)).toEqual([]);

    // (b) Re-consumption, as after an offset reset: a second Kafka table on the same
    //     topic with a fresh consumer group reads it from the start and writes this
    //     test's keys into the real current-state table a second time.
    // The same generated objects, in a database of its own and a fresh consumer group; only the
    // current-state view is pointed at the real table, for this test's keys.
    const replayDb = `replay_${tag.replace(/[^a-z0-9_]/g, '_')}`;
    const [t] = await deriveTables(pool, [{ source: 'public.cdc_types_probe', exclude: [], columns: {} }], deriveOptions(testEndpoints(), { database: replayDb, groupPrefix: `replay-${tag}` }));
    const { queue, views } = t!.objects;
    const topic = t!.objects.names.topic;
    const group = t!.objects.names.group;
    const current = views.find((v) => v.name === t!.objects.names.currentMv)!;
    let consumed: number | undefined;
    try {
      await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${replayDb}` });
      await ch.command({ query: createSql(queue) });
      await ch.command({ query: `CREATE MATERIALIZED VIEW ${current.name} TO astros.cdc_types_probe AS ${current.select} AND startsWith(probe_key, '${p}')` });
      const admin = kafka.admin();
      await admin.connect();
      try {
        const end = await topicEnds(admin, topic);
        // Per partition: an empty partition (P = 3, few keys) is never committed on and has nothing pending.
        await waitFor(
          async () => Object.fromEntries([...(await committedOffsets(admin, group, topic))].map(([k, o]) => [k, String(o)])),
          (c) => behind(end, new Map(Object.entries(c).map(([k, o]) => [Number(k), BigInt(o)]))).pending === 0n,
          `the replay consumer to reach the end of every partition (ends ${end.map((e) => `${e.partition}:${e.low}-${e.high}`).join(', ')})`,
        );
        consumed = end.reduce((sum, e) => sum + Number(e.high - e.low), 0);
      } finally {
        await admin.disconnect();
      }
    } finally {
      await ch.command({ query: `DROP DATABASE IF EXISTS ${replayDb}` });
    }
    expect(consumed).toBeGreaterThan(0);
    // Everything was delivered again, the deleted key's insert and update included: still deleted, the rest unchanged.
    expect(await chLive(k)).toEqual([]);
    expect(await chLive(p)).toEqual(await pgProbe(p));
  });
});

// ---------------------------------------------------------------- 2. TOAST

interface ProbeRow {
  probe_key: string;
  label: string | null;
  counter: number;
  happened_at: string | null;
  amount: string | null;
  amount_text: string | null;
  big_number: string | null;
  payload: string | null;
}

function chProbe(key: string): Promise<ProbeRow[]> {
  return chRows<ProbeRow>(
    ch,
    `SELECT probe_key, label, counter, toString(happened_at) AS happened_at, toString(amount) AS amount, amount_text, big_number, payload
       FROM astros.cdc_types_probe FINAL WHERE probe_key = {k:String}`,
    { k: key },
  );
}

describe('TOAST (public.cdc_types_probe)', () => {
  it('keeps an unchanged TOASTed column when another column updates (REPLICA IDENTITY FULL), and shows why DEFAULT would not', async () => {
    const k = `${tag}_toast`;
    // Random base64 does not compress: 12 kB stored out of line in the TOAST table.
    const big = crypto.randomBytes(9000).toString('base64');
    await pool.query(`insert into public.cdc_types_probe (probe_key, counter, payload) values ($1, 0, $2)`, [k, big]);
    const { rows: stored } = await pool.query<{ size: number; ident: string }>(
      `select pg_column_size(payload) as size, (select relreplident::text from pg_class where oid = 'public.cdc_types_probe'::regclass) as ident
         from public.cdc_types_probe where probe_key = $1`,
      [k],
    );
    expect(stored[0]!.size).toBeGreaterThan(8000); // not compressed, so necessarily TOASTed (> ~2 kB threshold)
    expect(stored[0]!.ident).toBe('f');

    await pool.query(`update public.cdc_types_probe set counter = 1 where probe_key = $1`, [k]);
    await pool.query(`update public.cdc_types_probe set counter = 2, label = 'relabelled' where probe_key = $1`, [k]);
    const rows = await waitFor(() => chProbe(k), (r) => r[0]?.counter === 2, `updates of ${k}`);
    expect(rows[0]!.payload).toBe(big);
    const log = await chRows<{ op: string; counter: number; ok: number }>(
      ch,
      `SELECT op, counter, payload = {big:String} AS ok FROM astros.cdc_types_probe_changelog WHERE probe_key = {k:String} ORDER BY lsn`,
      { k, big },
    );
    expect(log).toEqual([
      { op: 'c', counter: 0, ok: 1 },
      { op: 'u', counter: 1, ok: 1 },
      { op: 'u', counter: 2, ok: 1 },
    ]);

    // With REPLICA IDENTITY DEFAULT the same update carries Debezium's placeholder
    // instead of the value; this is the failure FULL prevents.
    try {
      await pool.query(`alter table public.cdc_types_probe replica identity default`);
      await pool.query(`update public.cdc_types_probe set counter = 3 where probe_key = $1`, [k]);
    } finally {
      await pool.query(`alter table public.cdc_types_probe replica identity full`);
    }
    const withDefault = await waitFor(
      () => chRows<{ payload: string }>(ch, `SELECT payload FROM astros.cdc_types_probe_changelog WHERE probe_key = {k:String} AND counter = 3`, { k }),
      (r) => r.length > 0,
      'the update made under REPLICA IDENTITY DEFAULT',
    );
    expect(withDefault[0]!.payload).toBe('__debezium_unavailable_value');
    // Back on FULL, the next update restores the real value from the old tuple.
    await pool.query(`update public.cdc_types_probe set counter = 4 where probe_key = $1`, [k]);
    const healed = await waitFor(() => chProbe(k), (r) => r[0]?.counter === 4, `update of ${k} after going back to FULL`);
    expect(healed[0]!.payload).toBe(big);
  });
});

// ---------------------------------------------------------------- 3. types

describe('types (public.cdc_types_probe)', () => {
  it('round-trips timestamptz with microseconds, large numerics, NULL vs empty string and non-ASCII text exactly', async () => {
    const cases = [
      {
        key: `${tag}_types_a`,
        label: 'Ünïcödé — 宇宙飛行士 🚀 Ελληνικά ✓ «ç»',
        happened_at: '2024-02-29 23:59:59.123456+05:30',
        amount: '12345678901234567890.123456789012345678',
        big_number: '1234567890123456789012345678901234567890123.12345678901234567890',
        payload: 'x',
      },
      {
        key: `${tag}_types_b`,
        label: '',
        happened_at: '1970-01-01 00:00:00.000001+00',
        amount: '-0.000000000000000001',
        big_number: '-99999999999999999999999999999999999999999999999999',
        payload: '',
      },
      { key: `${tag}_types_c`, label: null, happened_at: null, amount: null, big_number: null, payload: null },
    ];
    for (const c of cases) {
      await pool.query(`insert into public.cdc_types_probe (probe_key, label, happened_at, amount, big_number, payload) values ($1, $2, $3, $4, $5, $6)`, [
        c.key,
        c.label,
        c.happened_at,
        c.amount,
        c.big_number,
        c.payload,
      ]);
    }
    const { rows: source } = await pool.query<ProbeRow>(
      `select probe_key, label, counter, to_char(happened_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as happened_at,
              amount::text as amount, amount::text as amount_text, big_number::text as big_number, payload
         from public.cdc_types_probe where probe_key like $1 order by probe_key`,
      [`${tag}_types_%`],
    );
    const target = await waitFor(
      () =>
        chRows<ProbeRow>(
          ch,
          `SELECT probe_key, label, counter, toString(happened_at) AS happened_at, toString(amount) AS amount, amount_text, big_number, payload
             FROM astros.cdc_types_probe FINAL WHERE startsWith(probe_key, {p:String}) ORDER BY probe_key`,
          { p: `${tag}_types_` },
        ),
      (r) => r.length === cases.length,
      'the typed rows',
    );
    expect(source[0]!.happened_at).toBe('2024-02-29 18:29:59.123456');
    // Decimal(38,18) prints without trailing zeros; the exact source text is in amount_text.
    expect(target).toEqual(source);
    expect(target.map((r) => r.label)).toEqual([cases[0]!.label, '', null]);
    expect(target.map((r) => r.payload)).toEqual(['x', '', null]);
    const sums = await chRows<{ s: string }>(ch, `SELECT toString(sum(amount)) AS s FROM astros.cdc_types_probe FINAL WHERE startsWith(probe_key, {p:String})`, {
      p: `${tag}_types_`,
    });
    expect(sums[0]!.s).toBe('12345678901234567890.123456789012345677');
  });
});

// ---------------------------------------------------------------- 6. unparsable messages

describe('unparsable messages', () => {
  it('lands a garbage message in astros.kafka_errors with its error, and keeps consuming', async () => {
    const topic = 'astros.public.cdc_types_probe';
    const garbage = `not avro at all ${tag}`;
    const producer = kafka.producer();
    await producer.connect();
    let offset: string;
    try {
      const [meta] = await producer.send({ topic, messages: [{ key: Buffer.from('garbage'), value: Buffer.from(garbage) }] });
      offset = meta!.baseOffset!;
    } finally {
      await producer.disconnect();
    }
    const errors = await waitFor(
      () =>
        chRows<{ offset: string; raw_message: string; error: string }>(
          ch,
          `SELECT toString(offset) AS offset, raw_message, error FROM astros.kafka_errors WHERE topic = {t:String} AND raw_message = {g:String}`,
          { t: topic, g: garbage },
        ),
      (r) => r.length > 0,
      'the garbage message in kafka_errors',
    );
    expect(errors[0]!.offset).toBe(offset);
    expect(errors[0]!.error.length).toBeGreaterThan(0);

    const k = `${tag}_after_garbage`;
    await pool.query(`insert into public.cdc_types_probe (probe_key, label) values ($1, 'still flowing')`, [k]);
    const rows = await waitFor(() => chProbe(k), (r) => r.length === 1, 'a real change after the garbage');
    expect(rows[0]!.label).toBe('still flowing');
  });
});

// ---------------------------------------------------------------- 4. schema change

describe('schema change: ALTER TABLE ... ADD COLUMN on the source', () => {
  const table = `cdc_evo_${tag.replace(/[^a-z0-9_]/g, '_')}`;
  const source = `public.${table}`;
  const names = tableNames(source, { groupPrefix: testEndpoints().groupPrefix });
  const topic = names.topic;
  const target = names.current;
  const views = [names.changelogMv, names.currentMv, names.errorsMv];

  /**
   * Apply the catalog's objects for the table's current Postgres columns plus
   * `planned` ones (ClickHouse first: the columns the source is about to get).
   * Returns how many actions it took.
   */
  async function applyCatalog(planned: SourceColumn[] = []): Promise<number> {
    const opts = deriveOptions(testEndpoints());
    const [t] = await deriveTables(pool, [{ source, exclude: [], columns: {} }], opts);
    const src = { ...t!.source, columns: [...t!.source.columns, ...planned.filter((p) => !t!.source.columns.some((c) => c.name === p.name))] };
    const plan = await planTable(ch, tableObjects(t!.declaration, src, t!.objects.names, opts.sink), await liveTables(ch, names.database));
    await applyPlan(ch, plan, () => undefined);
    return plan.actions.length;
  }

  /**
   * Paused the way the pipeline pauses: the queue and its views dropped, the
   * group's committed offset kept in Kafka. (DETACH/ATTACH of the queue once
   * left chDB's re-attached consumer assigned but idle; nothing here uses it.)
   */
  async function pause(): Promise<void> {
    for (const v of views) await ch.command({ query: `DROP VIEW IF EXISTS ${v}` });
    await ch.command({ query: `DROP TABLE IF EXISTS ${names.queue}` });
  }

  /** Source first: the catalog recreates the queue and views with the new column; the group resumes at its committed offset. */
  const resumeWithNewSchema = () => applyCatalog();

  const text = (name: string): SourceColumn => ({ name, type: 'text', notNull: false, keyPosition: null, comment: null });

  type EvoRow = { id: string; v: number; note?: string | null; note2?: string | null };
  const chEvo = (cols: string[]) =>
    chRows<EvoRow>(ch, `SELECT id, v${cols.map((c) => `, ${c}`).join('')} FROM ${target} FINAL ORDER BY id`);

  it('delivers the new column with no event lost: source first (consumer paused) and ClickHouse first', async () => {
    try {
      await pool.query(`create table ${source} (id text primary key, v integer not null)`);
      // Declared like any table: publication, topic, ClickHouse objects and the connector's list come from the catalog.
      await captureTable({ source });

      await pool.query(`insert into ${source} values ('a', 1)`);
      await waitFor(() => chEvo([]), (r) => r.length === 1, 'the first row of the new table');

      // b) Source first: pause, ALTER the source, write while paused, migrate, resume.
      await pause();
      await pool.query(`alter table ${source} add column note text`);
      await pool.query(`insert into ${source} values ('b', 2, 'written while paused')`);
      await pool.query(`update ${source} set note = 'a, updated while paused', v = 11 where id = 'a'`);
      await pool.query(`insert into ${source} values ('c', 3, null)`);
      await sleep(1500); // the events are in Kafka, waiting
      await resumeWithNewSchema();
      await pool.query(`insert into ${source} values ('d', 4, 'after the migration')`);
      const afterB = await waitFor(() => chEvo(['note']), (r) => r.length === 4, 'rows written before, during and after the pause');
      expect(afterB).toEqual([
        { id: 'a', v: 11, note: 'a, updated while paused' },
        { id: 'b', v: 2, note: 'written while paused' },
        { id: 'c', v: 3, note: null },
        { id: 'd', v: 4, note: 'after the migration' },
      ]);

      // a) ClickHouse first: the catalog's objects for the planned column, then the source; no pause needed.
      await applyCatalog([text('note2')]);
      await pool.query(`insert into ${source} values ('e', 5, 'before note2 exists in the source')`);
      await pool.query(`alter table ${source} add column note2 text`);
      await pool.query(`insert into ${source} (id, v, note, note2) values ('f', 6, 'n', 'second column')`);
      await pool.query(`update ${source} set note2 = 'b got note2' where id = 'b'`);
      const afterA = await waitFor(
        () => chEvo(['note', 'note2']),
        (r) => r.length === 6 && r.some((x) => x.note2 === 'b got note2'),
        'rows after the ClickHouse-first change',
      );
      const { rows: sourceRows } = await pool.query<EvoRow>(`select id, v, note, note2 from ${source} order by id`);
      expect(afterA).toEqual(sourceRows);
      // The source now has the column: the catalog derives exactly what ClickHouse has.
      expect(await applyCatalog()).toBe(0);
      const errs = await chRows<{ n: string }>(ch, `SELECT count() AS n FROM astros.kafka_errors WHERE topic = {t:String}`, { t: topic });
      expect(Number(errs[0]!.n)).toBe(0);
      // The registry holds the evolved schema (three versions: v, +note, +note2).
      const versions = (await (await fetch(`${registryCcompat}/subjects/${topic}-value/versions`)).json()) as number[];
      expect(versions.length).toBeGreaterThanOrEqual(3);
    } catch (err) {
      console.log(`[cdc] ${await kafkaConsumerReport(ch, names.queue)}`);
      throw err;
    } finally {
      await dropCapturedTable(pool, ch, source);
    }
  });
});

// ---------------------------------------------------------------- 5. restarts mid-stream

describe('restarts in the middle of a stream of changes', () => {
  async function expectInSync(p: string, what: string): Promise<void> {
    const rows = await waitInSync(p, what, 180_000);
    expect(rows).toEqual(await pgProbe(p));
    expect(rows.length).toBeGreaterThan(0);
    // No duplicates in the current state: one live row per key.
    const [dup] = await chRows<{ n: string; k: string }>(
      ch,
      `SELECT count() AS n, uniqExact(probe_key) AS k FROM astros.cdc_types_probe FINAL WHERE startsWith(probe_key, {p:String})`,
      { p },
    );
    expect(dup!.n).toBe(dup!.k);
  }

  it('loses nothing and duplicates nothing when Kafka Connect restarts', { timeout: 420_000 }, async () => {
    const p = `${tag}_rc`;
    const stream = changeStream(p, 40, 40);
    let n: number;
    try {
      await sleep(3000);
      await restart('connect', () => sleep(3000)); // changes keep coming while Debezium is down; the slot holds them
      await waitFor(connectorRunning, (ok) => ok, 'the connector RUNNING again', 180_000, 1000);
      await sleep(3000);
    } finally {
      n = await stream.stop();
    }
    expect(n).toBeGreaterThan(50);
    await expectInSync(p, 'ClickHouse in sync after the Connect restart');
  });

  it('loses nothing and duplicates nothing when the ClickHouse host restarts', { timeout: 420_000 }, async () => {
    const p = `${tag}_rh`;
    const stream = changeStream(p, 40, 40);
    let n: number;
    try {
      await sleep(3000);
      await restart('clickhouse', () => sleep(3000));
      await sleep(3000);
    } finally {
      n = await stream.stop();
    }
    expect(n).toBeGreaterThan(50);
    await expectInSync(p, 'ClickHouse in sync after its restart');
  });

  it('keeps its Connect task through a registry outage that meets a schema it must register, then delivers', { timeout: 420_000 }, async () => {
    const p = `${tag}_rg`;
    const connectUrl = requireEnv('CONNECT_URL');
    const su = postgres(requireEnv('PG_SUPERUSER_URL').replace(/\/postgres$/, '/astros'));
    try {
      await restart('registry', async () => {
        // A restarted task starts with empty converter caches: its first record of a topic asks the registry.
        const res = await fetch(`${connectUrl}/connectors/astros-postgres/tasks/0/restart`, { method: 'POST' });
        expect(res.status).toBeLessThan(300);
        await waitFor(connectorRunning, (ok) => ok, 'the task RUNNING after its restart', 120_000, 500);
        await insertProbe(`${p}_1`, 'ISS');
        const { rows } = await pool.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
        // Debezium has the change (its walsender sent past it), so the converter met the registry's absence.
        // sent_lsn is shown to superusers only.
        await waitFor(
          async () => (await su.query<{ ok: boolean }>(
            `select r.sent_lsn >= $1::pg_lsn as ok from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid where s.slot_name = 'astros_debezium'`,
            [rows[0]!.lsn],
          )).rows[0]?.ok === true,
          (ok) => ok,
          'Debezium to receive the change while the registry is down',
          120_000,
          200,
        );
      });
    } finally {
      await su.end();
    }
    // Retried, not failed: the change arrives once the registry answers again, and the task never stopped.
    await waitInSync(p, 'the change made during the registry outage in ClickHouse', 180_000);
    expect(await connectorRunning()).toBe(true);
  });
});
