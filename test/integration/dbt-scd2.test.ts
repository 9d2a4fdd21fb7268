/**
 * dbt's SCD2 mart on the real pipeline: a scripted history is written to
 * Postgres public.astronauts with SQL (arrival = insert, craft change = update,
 * departure = delete, return = insert of the same key, and several changes
 * inside one transaction), travels Debezium -> Kafka -> ClickHouse, and
 * `npm run dbt` (scripts/dbt.sh) builds the marts from the change log.
 *
 * The test owns its keys (a random prefix, passed to dbt as person_key_prefix)
 * and its dbt schema (DBT_SCHEMA), and removes both afterwards. Expected rows
 * come from what Postgres recorded for each statement (WAL insert position
 * before and after it, transaction id, transaction start and commit
 * wall-clock), matched with the change log's events of the same key in LSN order.
 */
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chRows, clickhouse, postgres, repoRoot, requireEnv, runCommand, uniqueTag, waitFor } from './helpers.ts';


const tag = uniqueTag('dbt');
const prefix = `${tag}_`;
const dbtSchema = tag;
const key = { ann: `${prefix}ann`, bob: `${prefix}bob`, cy: `${prefix}cy` } as const;
const names: Record<string, string> = { [key.ann]: 'Ann Test', [key.bob]: 'Bob Test', [key.cy]: 'Cy Test' };

type Op = 'c' | 'u' | 'd';

interface Statement {
  personKey: string;
  op: Op;
  craft?: string;
}

/** One statement as Postgres recorded it. */
interface RecordedChange extends Statement {
  step: string;
  walBefore: bigint;
  walAfter: bigint;
  xid: string;
  txStartedMs: number;
  committedByMs: number;
}

/** One change as the ClickHouse change log holds it (duplicates collapsed). */
interface LoggedChange {
  person_key: string;
  op: string;
  lsn: string;
  tx_id: string | null;
  commit_time: string;
  commit_ms: string;
}

interface DimRow {
  astronaut_version_key: string;
  person_key: string;
  version_number: number;
  stint_id: string;
  stint_number: number;
  name: string;
  craft: string;
  valid_from: string;
  valid_to: string | null;
  is_current: boolean;
  valid_from_lsn: string;
  valid_to_lsn: string | null;
  change_op: string;
  closed_by_op: string | null;
  tx_id: string | null;
  updated_by_run: string;
}

let pool: pg.Pool;
let ch: ClickHouseClient;
const recorded: RecordedChange[] = [];
const runTag = `run_${tag}`;
// the crew calendar's last day for people still aboard: fixed for the whole test
const asOfDate = new Date().toISOString().slice(0, 10);

const md5 = (s: string): string => crypto.createHash('md5').update(s).digest('hex');

/** Apply one step in ONE transaction, recording the WAL window of every statement. */
async function applyStep(step: string, statements: Statement[]): Promise<void> {
  const client = await pool.connect();
  const walNow = async (): Promise<bigint> => {
    const r = await client.query<{ lsn: string }>(`select (pg_current_wal_insert_lsn() - '0/0')::text as lsn`);
    return BigInt(r.rows[0]!.lsn);
  };
  try {
    await client.query('begin');
    const tx = await client.query<{ started_ms: number; xid: string }>(
      `select extract(epoch from now())::float8 * 1000 as started_ms, (pg_current_xact_id()::text::bigint % 4294967296)::text as xid`,
    );
    const { started_ms: txStartedMs, xid } = tx.rows[0]!;
    const changes: Omit<RecordedChange, 'committedByMs'>[] = [];
    for (const s of statements) {
      const walBefore = await walNow();
      const result =
        s.op === 'c'
          ? await client.query(`insert into public.astronauts (person_key, name, craft, updated_by_run) values ($1, $2, $3, $4)`, [s.personKey, names[s.personKey], s.craft, runTag])
          : s.op === 'u'
            ? await client.query(`update public.astronauts set craft = $2, updated_at = now(), updated_by_run = $3 where person_key = $1`, [s.personKey, s.craft, runTag])
            : await client.query(`delete from public.astronauts where person_key = $1`, [s.personKey]);
      expect(result.rowCount, `${step}: ${s.op} ${s.personKey}`).toBe(1);
      changes.push({ ...s, step, walBefore, walAfter: await walNow(), xid, txStartedMs });
    }
    await client.query('commit');
    const after = await client.query<{ ms: number }>(`select extract(epoch from clock_timestamp())::float8 * 1000 as ms`);
    for (const c of changes) recorded.push({ ...c, committedByMs: after.rows[0]!.ms });
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Wait until the change log holds every recorded change (by count and by LSN), then return them per key in LSN order. */
async function loggedChanges(): Promise<Map<string, LoggedChange[]>> {
  const lastWal = recorded.reduce((m, c) => (c.walBefore > m ? c.walBefore : m), 0n);
  await waitFor(
    () =>
      chRows<{ events: string; max_lsn: string }>(
        ch,
        `select toString(count()) as events, toString(max(lsn)) as max_lsn
         from (select distinct person_key, lsn from astros.astronauts_changelog where startsWith(person_key, {prefix:String}))`,
        { prefix },
      ),
    (r) => Number(r[0]?.events) >= recorded.length && BigInt(r[0]?.max_lsn ?? '0') >= lastWal,
    `the ClickHouse change log to reach ${recorded.length} changes and WAL position ${lastWal}`,
    150_000,
    500,
  );
  const rows = await chRows<LoggedChange>(
    ch,
    `select person_key, toString(op) as op, toString(lsn) as lsn, toString(tx_id) as tx_id,
            toString(toUnixTimestamp64Milli(commit_ts)) as commit_ms, toString(commit_ts) as commit_time
     from astros.astronauts_changelog
     where startsWith(person_key, {prefix:String})
     order by person_key, lsn
     limit 1 by person_key, lsn`,
    { prefix },
  );
  const byKey = new Map<string, LoggedChange[]>();
  for (const r of rows) byKey.set(r.person_key, [...(byKey.get(r.person_key) ?? []), r]);
  return byKey;
}

/** The change log agrees with what Postgres recorded: same changes per key, in the WAL window, transaction and time of their statement. */
function matchChanges(logged: Map<string, LoggedChange[]>): Map<string, (LoggedChange & RecordedChange)[]> {
  const out = new Map<string, (LoggedChange & RecordedChange)[]>();
  for (const personKey of Object.values(key)) {
    const mine = recorded.filter((c) => c.personKey === personKey);
    const theirs = logged.get(personKey) ?? [];
    expect(theirs.map((e) => e.op), `change log ops of ${personKey}`).toEqual(mine.map((c) => c.op));
    const merged = mine.map((c, i) => {
      const e = theirs[i]!;
      const lsn = BigInt(e.lsn);
      expect(lsn >= c.walBefore && lsn < c.walAfter, `${c.step}: LSN ${lsn} of ${personKey} within [${c.walBefore}, ${c.walAfter})`).toBe(true);
      expect(e.tx_id, `${c.step}: transaction id of ${personKey}`).toBe(c.xid);
      const commitMs = Number(e.commit_ms);
      expect(commitMs, `${c.step}: commit time after the transaction started`).toBeGreaterThanOrEqual(Math.floor(c.txStartedMs));
      expect(commitMs, `${c.step}: commit time before COMMIT returned`).toBeLessThanOrEqual(Math.ceil(c.committedByMs));
      return { ...e, ...c };
    });
    out.set(personKey, merged);
  }
  return out;
}

/**
 * The expected version of `personKey` opened by its change number `from` and
 * closed by its change number `to` (null while current).
 */
function version(
  changes: Map<string, (LoggedChange & RecordedChange)[]>,
  personKey: string,
  from: number,
  to: number | null,
  versionNumber: number,
  stintNumber: number,
): DimRow {
  const list = changes.get(personKey)!;
  const opened = list[from]!;
  const closed = to === null ? undefined : list[to]!;
  return {
    astronaut_version_key: md5(`${personKey}|${opened.lsn}`),
    person_key: personKey,
    version_number: versionNumber,
    stint_id: md5(`${personKey}|${stintNumber}`),
    stint_number: stintNumber,
    name: names[personKey]!,
    craft: opened.craft!,
    valid_from: opened.commit_time,
    valid_to: closed?.commit_time ?? null,
    is_current: closed === undefined,
    valid_from_lsn: opened.lsn,
    valid_to_lsn: closed?.lsn ?? null,
    change_op: opened.op,
    closed_by_op: closed?.op ?? null,
    tx_id: opened.xid,
    updated_by_run: runTag,
  };
}

const dimColumns = `astronaut_version_key, person_key, version_number, stint_id, stint_number, name, craft,
  toString(valid_from) as valid_from, if(valid_to is null, null, toString(valid_to)) as valid_to, is_current,
  toString(valid_from_lsn) as valid_from_lsn, if(valid_to_lsn is null, null, toString(valid_to_lsn)) as valid_to_lsn,
  toString(change_op) as change_op, closed_by_op, if(tx_id is null, null, toString(tx_id)) as tx_id, updated_by_run`;

async function dimRows(): Promise<(DimRow & { dbt_invocation_id: string })[]> {
  return chRows(ch, `select ${dimColumns}, dbt_invocation_id from ${dbtSchema}.dim_astronauts_scd2 order by person_key, valid_from_lsn`);
}

/** Every row of every mart, in a stable order (the marts only hold this test's keys). */
async function martsSnapshot(): Promise<Record<string, unknown[]>> {
  const snapshot: Record<string, unknown[]> = {};
  for (const table of ['dim_astronauts_scd2', 'fct_astronaut_stints', 'fct_crew_by_craft_daily']) {
    snapshot[table] = await chRows(ch, `select * from ${dbtSchema}.${table} order by all`);
  }
  return snapshot;
}

/** `npm run dbt -- build` against the test stack, limited to this test's keys and schema; returns dbt's invocation id. */
async function dbtBuild(): Promise<string> {
  const vars = JSON.stringify({ person_key_prefix: prefix, as_of_date: asOfDate });
  const { code, text } = await runCommand('bash', [path.join('scripts', 'dbt.sh'), 'build', '--vars', vars], {
    DBT_USE_COLORS: 'false',
    DBT_SCHEMA: dbtSchema,
    DBT_EXECUTABLE: requireEnv('DBT_EXECUTABLE'),
    CLICKHOUSE_URL: requireEnv('CLICKHOUSE_URL'),
  });
  expect(code, `dbt build failed:\n${text.split('\n').slice(-60).join('\n')}`).toBe(0);
  expect(text).toMatch(/Completed successfully/);
  const results = JSON.parse(await readFile(path.join(repoRoot, 'dbt', 'target', 'run_results.json'), 'utf8')) as { metadata: { invocation_id: string } };
  return results.metadata.invocation_id;
}

describe('dbt SCD2 mart on the real CDC pipeline', () => {
  let firstBuild: Awaited<ReturnType<typeof dimRows>> = [];

  beforeAll(async () => {
    pool = postgres();
    ch = clickhouse();
  });

  afterAll(async () => {
    await pool?.query(`delete from public.astronauts where starts_with(person_key, $1)`, [prefix]).catch(() => undefined);
    await ch?.command({ query: `drop database if exists ${dbtSchema}` }).catch(() => undefined);
    await ch?.close();
    await pool?.end();
  });

  it('builds one row per version: arrival, craft change, departure, return, two changes in one transaction', async () => {
    await applyStep('arrivals', [
      { personKey: key.ann, op: 'c', craft: 'ISS' },
      { personKey: key.bob, op: 'c', craft: 'ISS' },
    ]);
    await applyStep('craft change', [{ personKey: key.ann, op: 'u', craft: 'Tiangong' }]);
    await applyStep('departure', [{ personKey: key.bob, op: 'd' }]);
    await applyStep('return', [{ personKey: key.bob, op: 'c', craft: 'Shenzhou' }]);
    await applyStep('one ingest, several changes', [
      { personKey: key.ann, op: 'u', craft: 'Soyuz' },
      { personKey: key.ann, op: 'u', craft: 'ISS' },
      { personKey: key.cy, op: 'c', craft: 'ISS' },
    ]);
    const changes = matchChanges(await loggedChanges());

    await dbtBuild();
    firstBuild = await dimRows();
    const expected = [
      version(changes, key.ann, 0, 1, 1, 1),
      version(changes, key.ann, 1, 2, 2, 1),
      version(changes, key.ann, 2, 3, 3, 1), // opened and closed in the same transaction
      version(changes, key.ann, 3, null, 4, 1),
      version(changes, key.bob, 0, 1, 1, 1), // closed by the departure
      version(changes, key.bob, 2, null, 2, 2), // the return opens stint 2
      version(changes, key.cy, 0, null, 1, 1),
    ];
    expect(firstBuild.map(({ dbt_invocation_id: _, ...row }) => row)).toEqual(expected);
    // two changes in one transaction: the same commit time, so a zero-length window
    expect(expected[2]!.valid_from).toBe(expected[2]!.valid_to);

    const stints = await chRows<{ person_key: string; stint_number: number; is_ongoing: boolean; started_at: string; ended_at: string | null; duration_seconds: number | null }>(
      ch,
      `select person_key, stint_number, is_ongoing, toString(started_at) as started_at,
              if(ended_at is null, null, toString(ended_at)) as ended_at, duration_seconds
       from ${dbtSchema}.fct_astronaut_stints order by person_key, stint_number`,
    );
    const bob = changes.get(key.bob)!;
    expect(stints.map((s) => [s.person_key, s.stint_number, s.is_ongoing])).toEqual([
      [key.ann, 1, true],
      [key.bob, 1, false],
      [key.bob, 2, true],
      [key.cy, 1, true],
    ]);
    expect(stints[1]).toMatchObject({
      started_at: bob[0]!.commit_time,
      ended_at: bob[1]!.commit_time,
      duration_seconds: (Number(bob[1]!.commit_ms) - Number(bob[0]!.commit_ms)) / 1000,
    });

    // crew per craft for the day of the changes (skipped if they straddled midnight UTC)
    const days = new Set(recorded.map((c) => new Date(c.committedByMs).toISOString().slice(0, 10)));
    if (days.size === 1) {
      const crew = await chRows<{ craft: string; person_keys: string[] }>(
        ch,
        `select craft, person_keys from ${dbtSchema}.fct_crew_by_craft_daily where crew_date = {day:Date} order by craft`,
        { day: [...days][0] },
      );
      expect(crew).toEqual([
        { craft: 'ISS', person_keys: [key.ann, key.bob, key.cy] },
        { craft: 'Shenzhou', person_keys: [key.bob] },
        { craft: 'Tiangong', person_keys: [key.ann] }, // Soyuz lasted zero time: not counted
      ]);
    }
  });

  it('leaves the marts identical when rebuilt without new changes', async () => {
    const before = await martsSnapshot();
    await dbtBuild();
    const after = await martsSnapshot();
    expect(after).toEqual(before);
    // not rewritten either: every row keeps the invocation that first wrote it
    expect(await dimRows()).toEqual(firstBuild);
  });

  it('adds only the new versions after further changes, closing the rows they follow', async () => {
    await applyStep('craft change', [{ personKey: key.cy, op: 'u', craft: 'Tiangong' }]);
    await applyStep('departure', [{ personKey: key.ann, op: 'd' }]);
    const changes = matchChanges(await loggedChanges());

    const invocation = await dbtBuild();
    const rows = await dimRows();
    const expected = [
      version(changes, key.ann, 0, 1, 1, 1),
      version(changes, key.ann, 1, 2, 2, 1),
      version(changes, key.ann, 2, 3, 3, 1),
      version(changes, key.ann, 3, 4, 4, 1), // closed by the departure
      version(changes, key.bob, 0, 1, 1, 1),
      version(changes, key.bob, 2, null, 2, 2),
      version(changes, key.cy, 0, 1, 1, 1), // closed by the craft change
      version(changes, key.cy, 1, null, 2, 1),
    ];
    expect(rows.map(({ dbt_invocation_id: _, ...row }) => row)).toEqual(expected);

    // this run wrote exactly the two closed rows and the one new version; the rest is untouched
    const written = rows.filter((r) => r.dbt_invocation_id === invocation).map((r) => r.astronaut_version_key);
    expect(written.sort()).toEqual([expected[3]!, expected[6]!, expected[7]!].map((r) => r.astronaut_version_key).sort());
    const untouched = rows.filter((r) => r.dbt_invocation_id !== invocation);
    expect(untouched).toEqual(firstBuild.filter((r) => !written.includes(r.astronaut_version_key)));
  });
});
