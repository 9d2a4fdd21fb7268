/**
 * The type mapping (catalog/README.md, "Types"), row by row, through the real
 * pipeline: a table with one column per row of the table (domains and an enum
 * of its own), captured through the catalog like any other, edge values in
 * every column, then validation (the same canonical rendering the
 * validatePipeline workflow uses) must find Postgres and ClickHouse equal,
 * value by value. The lossy rows are checked for the loss the table states.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chColumn } from '../../activities/validation/clickhouse-sql.ts';
import { compareTable } from '../../activities/validation/compare-table.ts';
import { planTable } from '../../activities/validation/plan.ts';
import { pgColumn } from '../../activities/validation/postgres-sql.ts';
import { tableNames } from '../../shared/names.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createResyncActivities, type ResyncOutcome, type ResyncPlan } from '../../activities/resync.ts';
import { createContext } from '../../stack/lib/context.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, postgres, requireEnv, testEndpoints, uniqueTag, waitFor, testKafka } from './helpers.ts';

const tag = uniqueTag('ty').replace(/[^a-z0-9_]/g, '_');
const table = `cdc_types_${tag}`;
const source = `public.${table}`;
const names = tableNames(source, { groupPrefix: testEndpoints().groupPrefix });
const mood = `mood_${tag}`;
const positive = `positive_${tag}`;
const small = `small_positive_${tag}`;
const instant = `instant_${tag}`;
let ch: ClickHouseClient;
let pool: pg.Pool;

/** One column per row of the mapping table. */
const columns = `
  id      integer primary key,
  i2      smallint,
  i4      integer,
  i8      bigint,
  n38     numeric(38,18),
  n76     numeric(76,0),
  n80     numeric(80,2),
  nneg    numeric(3,-2),
  nfrac   numeric(2,5),
  nfree   numeric,
  r4      real,
  r8      double precision,
  b       boolean,
  t       text,
  vc      varchar(10),
  c5      char(5),
  u       uuid,
  d       date,
  tm      time,
  ttz     timetz,
  ts      timestamp,
  ts3     timestamp(3),
  tstz    timestamptz,
  iv      interval,
  j       json,
  jb      jsonb,
  bin     bytea,
  e       ${mood},
  ea      ${mood}[],
  ia      integer[],
  ta      text[],
  fa      double precision[],
  tsa     timestamptz[],
  dp      ${positive},
  dd      ${small},
  dts     ${instant},
  nn_i4   integer not null default 0,
  nn_t    text not null default ''`;

const max38 = '99999999999999999999.999999999999999999';
const nines76 = '9'.repeat(76);
const nines78 = `${'9'.repeat(78)}.99`;

/** Edge values, one row each (columns not named are NULL). */
const rows: Record<string, string | null>[] = [
  { id: '1', i2: '-32768', i4: '-2147483648', i8: '-9223372036854775808', n38: max38, n76: nines76, n80: nines78, nneg: '99900', nfrac: '0.00099', nfree: '1.50' },
  { id: '2', i2: '32767', i4: '2147483647', i8: '9223372036854775807', n38: `-${max38}`, n76: `-${nines76}`, n80: `-${nines78}`, nneg: '-12345', nfrac: '-0.00001', nfree: 'NaN' },
  { id: '3', n38: 'NaN', n76: 'NaN', n80: 'NaN', nneg: 'NaN', nfree: 'Infinity', r4: 'NaN', r8: 'NaN' },
  { id: '4', n38: '1.500000000000000000', nfree: '-Infinity', r4: 'Infinity', r8: '-Infinity', b: 'true' },
  { id: '5', nfree: '-0.000000000000000000000000000000000000000001', r4: '3.4028235e+38', r8: '1.7976931348623157e+308', b: 'false' },
  { id: '6', nfree: '123456789012345678901234567890123456789012345678901234567890.5', r4: '1.17549435e-38', r8: '5e-324' },
  { id: '7', r4: '-0', r8: '0.1', t: '', vc: '', c5: '', ia: '{}', ta: '{}', ea: '{}' },
  { id: '8', t: 'Ünïcödé — 宇宙飛行士 🚀', vc: 'ü', c5: 'ab', u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', e: 'happy', ea: '{happy,sad}' },
  { id: '9', t: 'tab\there\nnew line \u0001\u007f quote\' dq" back\\slash | : N', c5: 'Ü', ta: '{"q\'uote","back\\\\slash","tab\there","new\nline","\\\\N"}', bin: '\\x00ff01', jb: '{"b": 1, "a": "ü"}', j: '{"b":1,  "a":[1,2]}' },
  { id: '10', bin: '\\x', d: '0001-01-01', tm: '00:00:00', ttz: '00:00:00+00', ts: '0001-01-01 00:00:00', ts3: '2024-01-01 00:00:00.123', tstz: '0001-01-01 00:00:00+00' },
  { id: '11', d: '9999-12-31', tm: '23:59:59.999999', ttz: '23:59:59.999999+05:30', ts: '9999-12-31 23:59:59.999999', ts3: 'infinity', tstz: '9999-12-31 23:59:59.999999+00' },
  { id: '12', d: '1900-01-01', tm: '24:00:00', ttz: '12:34:56.789012-14', ts: 'infinity', tstz: 'infinity', iv: '1 year 2 mons 3 days 04:05:06.789012' },
  { id: '13', d: '2299-12-31', ts: '-infinity', tstz: '-infinity', iv: '-1 year -2 mons +3 days -04:05:06.000001' },
  { id: '14', d: 'infinity', ts: '2024-02-29 12:00:00.000001', tstz: '2024-02-29 23:59:59.123456+05:30', iv: '0', ia: '{1,NULL,3}', ta: '{"a,b","",NULL,"ü"}' },
  { id: '15', d: '2024-02-29', iv: '1000000 hours', fa: '{NaN,-0,1e-300}', tsa: '{"2024-01-01 00:00:00.000001+00",infinity}' },
  { id: '16', dp: '1', dd: '7', dts: '2000-01-01 00:00:00+00', nn_i4: '-1', nn_t: 'x' },
  { id: '17' },
];

beforeAll(async () => {
  ch = clickhouse();
  pool = postgres();
  await pool.query(`create type ${mood} as enum ('happy', 'sad')`);
  await pool.query(`create domain ${positive} as integer check (value > 0)`);
  await pool.query(`create domain ${small} as ${positive} check (value < 10)`);
  await pool.query(`create domain ${instant} as timestamptz`);
  await pool.query(`create table ${source} (${columns})`);
  // Declared like any table: publication, topic, ClickHouse objects and the connector's list come from the catalog.
  // Rows written after: a table added to a running connector is streamed, not snapshotted.
  await captureTable({ source });
  for (const r of rows) {
    const cols = Object.keys(r);
    await pool.query(`insert into ${source} (${cols.join(', ')}) values (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(r));
  }
});

afterAll(async () => {
  await dropCapturedTable(pool, ch, source);
  for (const t of [instant, small, positive]) await pool.query(`drop domain if exists ${t}`).catch(() => undefined);
  await pool.query(`drop type if exists ${mood}`).catch(() => undefined);
  await ch.close();
  await pool.end();
});

async function validate(): Promise<Awaited<ReturnType<typeof compareTable>>> {
  const spec = await validationSpecFor(pool, source, testEndpoints().groupPrefix);
  return compareTable({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() }, { spec: { ...spec, buckets: 4, maxWaitMs: 90_000 }, reportKey: `types-${tag}` });
}

/** Per column, the rows whose canonical text differs between the engines: what a mismatch consists of. */
async function differingValues(): Promise<string[]> {
  const spec = await validationSpecFor(pool, source, testEndpoints().groupPrefix);
  const client = await pool.connect();
  try {
    const { plan } = await planTable(client, ch, spec);
    const out: string[] = [];
    for (const c of plan.columns) {
      const { rows: want } = await client.query<{ id: number; v: string }>(`select id, ${pgColumn(c)} as v from ${source} order by id`);
      const got = await chRows<{ id: number; v: string }>(ch, `SELECT id, ${chColumn(c)} AS v FROM ${names.current} FINAL WHERE is_deleted = 0 ORDER BY id`, {});
      want.forEach((w, i) => {
        if (got[i]?.v !== w.v) out.push(`${c.name} id ${w.id}: postgres ${JSON.stringify(w.v)} clickhouse ${JSON.stringify(got[i]?.v)}`);
      });
    }
    return out;
  } finally {
    client.release();
  }
}

function chLive<T>(select: string): Promise<T[]> {
  return chRows<T>(ch, `SELECT id, ${select} FROM ${names.current} FINAL WHERE is_deleted = 0 ORDER BY id`);
}

describe('every row of the type mapping, through the real pipeline', () => {
  it('arrives value by value as validation sees it, edge values included', { timeout: 240_000 }, async () => {
    try {
      await waitFor(() => chLive<{ id: number }>('1 AS x'), (r) => r.length === rows.length, `the ${rows.length} typed rows in ClickHouse`, 60_000, 500);
    } catch (err) {
      const errs = await chRows(ch, `SELECT error, substring(raw_message, 1, 300) AS m FROM astros.kafka_errors WHERE topic = {t:String} LIMIT 3`, { t: names.topic });
      const status = await (await fetch(`${requireEnv('CONNECT_URL')}/connectors/astros-postgres/status`)).json();
      const subjects = await (await fetch(`${requireEnv('REGISTRY_URL')}/apis/ccompat/v7/subjects/${names.topic}-value/versions/latest`)).text();
      const consumers = await chRows(ch, `SELECT exceptions.text AS e FROM system.kafka_consumers WHERE table = {t:String}`, { t: `${table}_queue` });
      console.log('types test: the rows did not arrive; pipeline state:', JSON.stringify({ errs, status, subjects, consumers }, null, 1).slice(0, 20000));
      throw err;
    }
    const report = await validate();
    expect(report.outcome === 'agree' ? [] : await differingValues()).toEqual([]);
    expect(report.summary).toContain('agree');
    expect(report).toMatchObject({ outcome: 'agree', sourceRows: rows.length, targetRows: rows.length, missingColumns: [] });
    expect(report.columns).toHaveLength(columns.trim().split('\n').length - 1);
    const errors = await chRows<{ n: string }>(ch, `SELECT count() AS n FROM astros.kafka_errors WHERE topic = {t:String}`, { t: names.topic });
    expect(errors[0]!.n).toBe('0');
    // Connect wrote them from the project converter's cached path (debezium/converter), which it takes
    // for a schema only after reproducing Apicurio's bytes for that schema's first record.
    const connectLog = fs.readFileSync(path.join(createContext('test', () => undefined).logDir, 'connect.log'), 'utf8');
    const cached = connectLog.split('\n').filter((l) => l.includes(`${names.topic}: schema `) && l.includes('served from the cached id header'));
    expect(cached.length, 'key and value schema of the topic on the cached path').toBeGreaterThanOrEqual(2);
    expect(connectLog).not.toContain("cannot reproduce Apicurio's bytes");
  });

  it('keeps numeric text exact beside the Decimal, NaN and ±Infinity spelled as Postgres spells them', async () => {
    const got = await chLive<{ id: number; n38: string | null; n38_text: string | null; n80: string | null; nneg: string | null; nneg_text: string | null; nfree: string | null }>(
      'toString(n38) AS n38, n38_text, n80, toString(nneg) AS nneg, nneg_text, nfree',
    );
    const by = new Map(got.map((r) => [Number(r.id), r]));
    expect(by.get(1)).toMatchObject({ n38: max38, n38_text: max38, n80: nines78, nneg: '99900', nneg_text: '99900', nfree: '1.50' });
    expect(by.get(3)).toMatchObject({ n38: null, n38_text: 'NaN', n80: 'NaN', nneg: null, nfree: 'Infinity' });
    expect(by.get(4)).toMatchObject({ n38: '1.5', n38_text: '1.500000000000000000', nfree: '-Infinity' });
    expect(by.get(2)!.nfree).toBe('NaN');
  });

  it('keeps char(n) padding, bytes, years 0001 and 9999; makes ±infinity and dates outside Date32 NULL', async () => {
    const got = await chLive<Record<string, string | null>>(
      "c5, hex(bin) AS bin, toString(tstz) AS tstz, toString(ts) AS ts, toString(d) AS d, toString(tm) AS tm, toString(ttz) AS ttz, iv, toString(ia) AS ia",
    );
    const by = new Map(got.map((r) => [Number(r.id), r]));
    expect(by.get(8)).toMatchObject({ c5: 'ab   ' });
    expect(by.get(9)).toMatchObject({ c5: 'Ü    ', bin: '00FF01' });
    expect(by.get(10)).toMatchObject({ bin: '', tstz: '0001-01-01 00:00:00.000000', ts: '0001-01-01 00:00:00.000000', d: null, tm: '00:00:00.000000' });
    expect(by.get(11)).toMatchObject({ tstz: '9999-12-31 23:59:59.999999', ts: '9999-12-31 23:59:59.999999', d: null, ttz: '18:29:59.999999' });
    expect(by.get(12)).toMatchObject({ tstz: null, ts: null, d: '1900-01-01', tm: '24:00:00.000000', iv: 'P1Y2M3DT4H5M6.789012S' });
    expect(by.get(13)).toMatchObject({ tstz: null, ts: null, d: '2299-12-31' });
    expect(by.get(14)).toMatchObject({ d: null, ia: '[1,NULL,3]' });
    expect(by.get(7)).toMatchObject({ ia: '[]' });
  });

  it('loads every type through a resync exactly as streaming delivered it: no loaded row differs, validation agrees', { timeout: 120_000 }, async () => {
    const acts = createResyncActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() });
    const env = new MockActivityEnvironment();
    const plan = (await env.run(acts.prepareResync, { source })) as ResyncPlan;
    for (const range of plan.ranges) await env.run(acts.loadResyncRange, { source, lsnFloor: plan.lsnFloor, range, ranges: plan.ranges.length, rowsBefore: 0, estimatedRows: plan.estimatedRows });
    await env.run(acts.swapResync, { source, lsnFloor: plan.lsnFloor });
    const outcome = (await env.run(acts.completeResync, { source, lsnFloor: plan.lsnFloor })) as ResyncOutcome;
    // Every loaded row hashed equal to the streamed one it replaced: the load's encoding is Debezium's, type by type.
    expect(outcome).toMatchObject({ loadedRows: rows.length, changedRows: 0, deletedRows: 0 });
    const report = await validate();
    expect(report.outcome, report.summary).toBe('agree');
  });
});
