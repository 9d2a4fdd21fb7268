/**
 * The pipeline's own replication slot lost, on the test stack, and recovered.
 * The connector is stopped (as when Kafka Connect is down), changes go on in
 * a table of the test's own and in public.astronauts under the test's key
 * prefix (changed, deleted, added, changed and changed back, untouched), and
 * Postgres invalidates the slot: more WAL than max_slot_wal_keep_size is
 * written past it (a small record and a WAL segment switch per round, so
 * 256MB of WAL positions cost a few MB of disk), then a checkpoint. The
 * connector resumes and retries the slot it cannot read, as after
 * `npm run stack -- up`. Then:
 *
 *   - the first sample of the test's monitor after the loss has the slot lost
 *     and fires slot_lost to the webhook; the page's Postgres and Debezium
 *     boxes are red (screenshot .stack/test-output/recover-page.png); the lag
 *     report's and `tables list`'s first line is FAILED;
 *   - `astros recover` (every captured table) ends with validation agreeing;
 *     the capture gap names the LSN range for each table;
 *   - the change history after the reload: one read at the reload's version
 *     per changed or added key, one delete per deleted key, nothing for a key
 *     whose value is what it was (and its current-state version is still its
 *     last captured change); `dbt build` passes (SCD2 and current state
 *     agree), fct_capture_gaps shows the gap.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatLsn } from '../../shared/lsn.ts';
import { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import { pipelineNames, tableNames } from '../../shared/names.ts';
import { captureGapsTable, readGaps } from '../../connectors/clickhouse/capture-gaps.ts';
import { formatLagReport, lagReport } from '../../activities/lag-report.ts';
import { slotProblem, slotState } from '../../connectors/postgres/slots.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, postgres, requireEnv, runCommand, startPipelineTestWorker, testEndpoints, uniqueTag, waitFor, type TestWorker, testKafka } from './helpers.ts';
import { startAlertMonitor, type AlertMonitor } from './alert-monitor.ts';
import { firstSampleAfter, pageState, runRecover } from './recover-helpers.ts';

const tag = uniqueTag('rc');
const source = `public.recover_${tag}`;
const names = tableNames(source);
const prefix = `${tag}_`;
const taskQueue = `recover-${tag}`;
const ROWS = 300;

let pool: pg.Pool;
let su: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker;
let alerts: AlertMonitor;
const connectUrl = () => requireEnv('CONNECT_URL');

/** Each committed change of the test table once, by key: op, lsn and value, in LSN order. */
async function changes(): Promise<Map<number, { op: string; lsn: string; v: string }[]>> {
  // Sorted by the numbers: an alias that shadows its column would sort the text ('335…' before '40…').
  const rows = await chRows<{ id_text: string; op: string; lsn_text: string; v: string }>(ch, `SELECT toString(id) AS id_text, op, toString(lsn) AS lsn_text, v FROM ${names.changes} FINAL ORDER BY id, lsn`);
  const out = new Map<number, { op: string; lsn: string; v: string }[]>();
  for (const r of rows) out.set(Number(r.id_text), [...(out.get(Number(r.id_text)) ?? []), { op: r.op, lsn: r.lsn_text, v: r.v }]);
  return out;
}

const astronaut = (k: string, craft: string) =>
  pool.query(`insert into public.astronauts (person_key, name, craft, updated_by_run) values ($1, $2, $3, $4)`, [`${prefix}${k}`, `Rc ${k.toUpperCase()}`, craft, tag]);
// Only the craft: a change made and undone leaves the whole row as it was.
const setCraft = (k: string, craft: string) => pool.query(`update public.astronauts set craft = $2 where person_key = $1`, [`${prefix}${k}`, craft]);

beforeAll(async () => {
  pool = postgres();
  pool.on('error', () => undefined);
  su = postgres(requireEnv('PG_SUPERUSER_URL').replace(/\/postgres$/, '/astros'));
  ch = clickhouse();
  await pool.query(`create table ${source} (id bigint primary key, v text not null)`);
  await captureTable({ source });
  // Rows written once the connector's task captures the table stream (a table captured with rows would need a load: tables add).
  await waitFor(() => new KafkaConnect(connectUrl()).state(pipelineNames.connector), (c) => c.running && c.taskTables.includes(source), `the connector's task capturing ${source}`, 120_000, 500);
  await pool.query(`insert into ${source} select g, 'v' || g from generate_series(1, ${ROWS}) g`);
  for (const k of ['a', 'b', 'c', 'd']) await astronaut(k, 'ISS');
  alerts = await startAlertMonitor(tag, ch);
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
  // The snapshot of the new table and the astronauts' arrivals are in ClickHouse before the connector stops.
  await waitFor(() => changes(), (c) => c.size === ROWS, `${ROWS} rows of ${source} in ClickHouse`, 120_000, 500);
  await waitFor(
    () => chRows<{ n: string }>(ch, `SELECT count() AS n FROM astros.astronauts_changes FINAL WHERE startsWith(person_key, {p:String})`, { p: prefix }),
    (r) => Number(r[0]?.n) === 4,
    'the four arrivals in ClickHouse',
    60_000,
    500,
  );
}, 300_000);

afterAll(async () => {
  // Whatever failed above, the next test file finds the pipeline streaming.
  if (pool && slotProblem(await slotState(pool, pipelineNames.slot))) await runRecover(taskQueue);
  if ((await new KafkaConnect(connectUrl()).connectorState(pipelineNames.connector).catch(() => 'RUNNING')) === 'STOPPED') await new KafkaConnect(connectUrl()).resume(pipelineNames.connector).catch(() => undefined);
  await worker?.stop();
  await alerts?.stop();
  await pool?.query(`delete from public.astronauts where starts_with(person_key, $1)`, [prefix]).catch(() => undefined);
  await ch?.command({ query: `DROP DATABASE IF EXISTS ${tag}` }).catch(() => undefined);
  await ch?.command({ query: `DELETE FROM ${captureGapsTable} WHERE source_table = {s:String}`, query_params: { s: source } }).catch(() => undefined);
  if (pool && ch) await dropCapturedTable(pool, ch, source);
  await ch?.close();
  await su?.end();
  await pool?.end();
});

describe("the pipeline's replication slot lost", () => {
  it('is reported within one sample, and astros recover brings the stream back: validation agrees, the gap is recorded, dbt build passes', { timeout: 420_000 }, async () => {
    const before = await changes();
    const [{ v: keep } = { v: '0' }] = await chRows<{ v: string }>(ch, `SELECT toString(max(lsn)) AS v FROM ${names.changes}`);

    await new KafkaConnect(connectUrl()).stop(pipelineNames.connector);
    await waitFor(() => new KafkaConnect(connectUrl()).connectorState(pipelineNames.connector), (s) => s === 'STOPPED', 'the connector stopped', 60_000, 500);
    await waitFor(() => slotState(pool, pipelineNames.slot), (s) => !s.active, 'the slot released', 60_000, 500);

    // Changes while nothing reads the slot: never captured one by one.
    await pool.query(`update ${source} set v = 'gap ' || id where id <= 40`);
    await pool.query(`delete from ${source} where id between 41 and 50`);
    await pool.query(`insert into ${source} select g, 'new ' || g from generate_series(${ROWS + 1}, ${ROWS + 10}) g`);
    await pool.query(`update ${source} set v = 'changed' where id = 51`);
    await pool.query(`update ${source} set v = 'v51' where id = 51`);
    await setCraft('b', 'Soyuz');
    await pool.query(`delete from public.astronauts where person_key = $1`, [`${prefix}c`]);
    await setCraft('d', 'Tiangong');
    await setCraft('d', 'ISS');
    await astronaut('e', 'Crew Dragon');

    // Past max_slot_wal_keep_size, then the checkpoint that invalidates the slot.
    const { rows: keepRows } = await su.query<{ mb: string }>(`select setting as mb from pg_settings where name = 'max_slot_wal_keep_size'`);
    const rounds = Math.ceil(Number(keepRows[0]!.mb) / 16) + 2;
    await su.query(`do $$ begin for i in 1..${rounds} loop perform pg_logical_emit_message(false, 'astros-test', 'past the slot'); perform pg_switch_wal(); end loop; end $$`);
    let checkpointAt = Date.now();
    await waitFor(
      async () => {
        checkpointAt = Date.now();
        await su.query('checkpoint');
        return slotState(pool, pipelineNames.slot);
      },
      (s) => s.walStatus === 'lost',
      'the slot invalidated',
      60_000,
      1_000,
    );
    const lostAt = Date.now();
    await new KafkaConnect(connectUrl()).resume(pipelineNames.connector);

    // Reported: the first sample after the loss has it and fires the alert.
    await waitFor(async () => alerts.received.filter((t) => t.startsWith(`[FIRING] slot_lost (slot=${pipelineNames.slot})`)).length, (n) => n === 1, 'slot_lost on the webhook', 30_000, 200);
    // The monitor sends an alert before it writes that sample's rows: wait for the row, not only the webhook.
    // The slot was lost during the last checkpoint: a sample between it and lostAt (when the test saw it) may already have fired.
    const first = await waitFor(() => firstSampleAfter(ch, tag, lostAt, checkpointAt), (f) => f.at > 0 && f.firedAt !== null, 'the first sample after the loss in monitor_samples', 30_000, 200);
    console.log(`[recover] slot lost at ${new Date(lostAt).toISOString()}; first sample after it at ${new Date(first.at).toISOString()} with astros_replication_slot_lost = ${first.lost}; alert fired ${first.firedAt ? `at ${new Date(first.firedAt).toISOString()}` : 'never'}`);
    expect(first.lost).toBe(1);
    expect(first.firedAt).toBeLessThanOrEqual(first.at); // within one sample: at the first one after the test saw the loss, or one before
    const page = await pageState(alerts.monitor.url, 'recover-page.png');
    console.log(`[recover] page: postgres ${page.stages.postgres?.health} "${page.stages.postgres?.text}"; debezium ${page.stages.debezium?.health} "${page.stages.debezium?.text}"`);
    expect(page.stages.postgres).toMatchObject({ health: 'down', text: expect.stringContaining(`slot ${pipelineNames.slot} LOST`) });
    expect(page.stages.debezium).toMatchObject({ health: 'down', text: expect.stringContaining('cannot read') });
    expect(page.firing).toContain(`slot_lost (slot=${pipelineNames.slot})`);
    expect(page.notCapturing).toMatch(/is lost: .*npm run recover/);
    const e = testEndpoints();
    const lag = formatLagReport(await lagReport({ db: pool, kafka: testKafka(), clickhouse: ch }, { groupPrefix: e.groupPrefix }));
    console.log(`[recover] lag report, first line: ${lag.split('\n')[0]}`);
    expect(lag.split('\n')[0]).toMatch(new RegExp(`^FAILED: replication slot ${pipelineNames.slot} is lost: .*run npm run recover`));
    const list = await runCommand('npx', ['tsx', 'cli/astros.ts', 'tables', 'list'], { FORCE_COLOR: '0' });
    console.log(`[recover] tables list:\n${list.text}`);
    expect(list.text.split('\n')[0]).toMatch(/^FAILED: replication slot .* is lost/);

    // Recovered: new slot, gap recorded, every captured table reloaded and validated.
    const r = await runRecover(taskQueue);
    console.log(`[recover] astros recover (exit ${r.code}):\n${r.text.split('\n').filter((l) => !l.includes('waiting for')).join('\n')}`);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toMatch(new RegExp(`slot ${pipelineNames.slot}: was lost, dropped; the connector streams from a new slot`));
    expect(r.text).toMatch(new RegExp(`${source}: resynced 300 rows at \\S+ \\(50 changed, 10 deleted, 250 unchanged\\); .*: agree`));
    expect(r.text).toMatch(/public\.astronauts: resynced .*\(\d+ changed, \d+ deleted, \d+ unchanged\); .*: agree/);
    expect(r.text).not.toMatch(/: (mismatch|lag) /);

    const [gap] = await readGaps(ch, [source]);
    const [astroGap] = await readGaps(ch, ['public.astronauts']);
    console.log(`[recover] capture gap of ${source}: ${JSON.stringify(gap)}`);
    expect(gap).toMatchObject({ reason: 'slot lost', slot: pipelineNames.slot, reloadLsn: expect.any(String) });
    expect(BigInt(gap!.fromLsn)).toBeGreaterThanOrEqual(BigInt(keep));
    expect(BigInt(gap!.toLsn)).toBeGreaterThan(BigInt(gap!.fromLsn));
    expect(BigInt(gap!.reloadLsn!) + 1n).toBeGreaterThanOrEqual(BigInt(gap!.toLsn));
    expect(astroGap).toMatchObject({ fromLsn: gap!.fromLsn, toLsn: gap!.toLsn, reloadLsn: expect.any(String) });

    // The change history: each key's net result once, at the reload's version; nothing for unchanged keys.
    const L = gap!.reloadLsn!;
    const after = await changes();
    const added = (id: number) => (after.get(id) ?? []).slice((before.get(id) ?? []).length);
    for (let id = 1; id <= 40; id++) expect(added(id), `key ${id}`).toEqual([{ op: 'r', lsn: L, v: `gap ${id}` }]);
    for (let id = 41; id <= 50; id++) expect(added(id).map((c) => [c.op, c.lsn]), `key ${id}`).toEqual([['d', L]]);
    for (let id = ROWS + 1; id <= ROWS + 10; id++) expect(added(id), `key ${id}`).toEqual([{ op: 'r', lsn: L, v: `new ${id}` }]);
    for (let id = 51; id <= ROWS; id++) expect(added(id), `key ${id}`).toEqual([]);
    const versions = new Map(
      (await chRows<{ id: string; version: string }>(ch, `SELECT toString(id) AS id, toString(version) AS version FROM ${names.current} FINAL WHERE is_deleted = 0`)).map((x) => [Number(x.id), x.version]),
    );
    for (let id = 51; id <= ROWS; id++) expect(versions.get(id), `key ${id} keeps its version`).toBe(before.get(id)!.at(-1)!.lsn);
    expect(versions.get(1)).toBe(L);

    await waitFor(async () => alerts.received.filter((t) => t.startsWith(`[RESOLVED] slot_lost (slot=${pipelineNames.slot})`)).length, (n) => n === 1, 'the recovery on the webhook', 30_000, 300);

    // dbt: every model and test, the SCD2 history of this test's people agreeing with the current state.
    const dbt = await runCommand('bash', [path.join('scripts', 'dbt.sh'), 'build', '--vars', JSON.stringify({ person_key_prefix: prefix })], {
      DBT_USE_COLORS: 'false',
      DBT_SCHEMA: tag,
      STACK_PROFILE: 'test',
      DBT_EXECUTABLE: requireEnv('DBT_EXECUTABLE'),
      CLICKHOUSE_URL: requireEnv('CLICKHOUSE_URL'),
    });
    console.log(`[recover] dbt build (exit ${dbt.code}):\n${dbt.text.split('\n').filter((l) => /Done\.|Completed|ERROR|FAIL|Failure|fct_capture_gaps|assert_/.test(l)).join('\n')}`);
    expect(dbt.code, dbt.text.split('\n').slice(-60).join('\n')).toBe(0);
    const dim = await chRows<{ person_key: string; change_op: string; valid_from_lsn_text: string; is_current: boolean; closed_by_op: string | null }>(
      ch,
      `SELECT person_key, change_op, toString(valid_from_lsn) AS valid_from_lsn_text, is_current, closed_by_op FROM ${tag}.dim_astronauts_scd2 ORDER BY person_key, valid_from_lsn`,
    );
    const of = (k: string) =>
      dim.filter((d) => d.person_key === `${prefix}${k}`).map((d) => `${d.change_op}${d.valid_from_lsn_text === astroGap!.reloadLsn ? '@L' : ''}${d.is_current ? ' current' : ` closed by ${d.closed_by_op}`}`);
    console.log(`[recover] dim_astronauts_scd2 of the test's people: ${JSON.stringify(Object.fromEntries(['a', 'b', 'c', 'd', 'e'].map((k) => [k, of(k)])))}`);
    expect(of('a')).toEqual(['c current']);
    expect(of('b')).toEqual(['c closed by r', 'r@L current']);
    expect(of('c')).toEqual(['c closed by d']);
    expect(of('d')).toEqual(['c current']);
    expect(of('e')).toEqual(['r@L current']);
    const gaps = await chRows<{ source_table: string; gap_from_lsn_text: string; gap_to_lsn_text: string; is_reloaded: boolean }>(
      ch,
      `SELECT source_table, gap_from_lsn_text, gap_to_lsn_text, is_reloaded FROM ${tag}.fct_capture_gaps
        WHERE source_table IN ({s:String}, 'public.astronauts') AND gap_from_lsn = {from:UInt64} ORDER BY source_table`,
      { s: source, from: gap!.fromLsn },
    );
    console.log(`[recover] fct_capture_gaps: ${JSON.stringify(gaps)}`);
    expect(gaps).toHaveLength(2);
    expect(gaps.every((g) => g.is_reloaded && g.gap_from_lsn_text === formatLsn(gap!.fromLsn) && g.gap_to_lsn_text === formatLsn(gap!.toLsn))).toBe(true);
  });
});
