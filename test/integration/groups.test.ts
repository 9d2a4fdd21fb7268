/**
 * Table groups on the running test stack, through the real CLI and a worker of
 * this test's own task queue:
 *
 *  - an empty table added with `--group G` creates the group: its own
 *    publication, slot and connector (no snapshot); a 2,000-row table added to
 *    the same group while a writer changes it and the default group's table;
 *    validation agrees for both groups, each caught up at its own slot;
 *  - the same add twice changes nothing; an add into another group is refused
 *    with the way to move it;
 *  - `groups list`, `tables list` and `npm run lag` show both slots;
 *  - the group's connector stopped does not stop the default group's stream;
 *  - the group's slot dropped: `recover --group` makes a new one, records the
 *    gap and resyncs that group's tables only, while the default group streams;
 *  - adoption: the default group's connector keeps its configuration, its
 *    Connect offsets and slot move forward (never reset) and nothing is read
 *    again (no snapshot reads);
 *  - removing the group's last table removes its connector, slot and
 *    publication, and says so.
 * A group reading a second database: groups-databases.test.ts.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropInactiveSlot } from '../../connectors/postgres/slots.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { groupNames, pipelineNames } from '../../shared/names.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import { chRows, clickhouse, dropCapturedTable, loopWriter, requireEnv, runCommand, startPipelineTestWorker, testConnect, testEndpoints, uniqueTag, waitFor, type TestWorker } from './helpers.ts';
import { cliOn, json, lsn, probe, probeArrived as probeArrivedIn, slotExists as slotExistsOn, takeDownGroup, validateTable } from './groups-helpers.ts';

const tag = uniqueTag('grp');
const group = tag;
const g = groupNames(group);
const big = `public.gbig_${tag}`;
const empty = `public.gempty_${tag}`;
const taskQueue = `groups-${tag}`;

let pool: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker;
const connect = testConnect();

const cli = cliOn(taskQueue);
const validate = (source: string): Promise<ValidationReport> => validateTable(pool, ch, source, `groups-${tag}-${source}`);

/** The default group's position: Connect's committed offset (an LSN) and the slot's confirmed LSN. */
async function defaultPosition(): Promise<{ offset: bigint; confirmed: string; config: Record<string, string> }> {
  const [o] = await connect.offsets(pipelineNames.connector);
  const { rows } = await pool.query<{ confirmed: string }>(`select confirmed_flush_lsn::text as confirmed from pg_replication_slots where slot_name = $1`, [pipelineNames.slot]);
  return { offset: BigInt(String(o?.lsn ?? 0)), confirmed: rows[0]!.confirmed, config: await connect.config(pipelineNames.connector) };
}

/** Updates the group's big table and inserts probe rows (the default group) until stopped. */
const startWriter = () =>
  loopWriter(async (n) => {
    await pool.query(`update ${big} set v = v || '+' where id = $1`, [1 + (n % 2_000)]);
    if (n % 4 === 0) await pool.query(`insert into ${probe} (probe_key, label, counter) values ($1, 'groups', $2)`, [`${tag}_w${n}`, n]);
  }, 20);

const slotExists = (slot: string) => slotExistsOn(pool, slot);
const probeArrived = (key: string) => probeArrivedIn(ch, key);

let before: Awaited<ReturnType<typeof defaultPosition>>;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 6 });
  ch = clickhouse();
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
  await pool.query(`create table ${empty} (id int primary key, v text)`);
  await pool.query(`create table ${big} (id int primary key, v text not null)`);
  await pool.query(`insert into ${big} select g, 'row ' || g from generate_series(1, 2000) g`);
  before = await defaultPosition();
});

afterAll(async () => {
  await worker?.stop();
  for (const s of [big, empty]) await dropCapturedTable(pool, ch, s);
  await takeDownGroup(pool, group);
  await pool.query(`delete from ${probe} where probe_key like $1`, [`${tag}%`]).catch(() => undefined);
  await ch?.close();
  await pool?.end();
});

describe('table groups', () => {
  it('an add with --group creates the group (publication, slot, connector); a second table joins it while writes continue; both groups validate', { timeout: 420_000 }, async () => {
    let t0 = Date.now();
    const first = await cli('tables', 'add', empty, '--group', group, '--timeout', '4m');
    console.log(`[groups] empty table added in a new group in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(first.code, first.text).toBe(0);
    expect(first.text).toContain(`${empty}: streaming (key id; 0 rows loaded)`);
    expect(await connect.config(g.connector)).toMatchObject({ 'slot.name': g.slot, 'publication.name': g.publication, 'table.include.list': empty, 'snapshot.mode': 'no_data' });
    expect(await slotExists(g.slot)).toBe(true);
    const members = await pool.query<{ t: string }>(`select schemaname || '.' || tablename as t from pg_publication_tables where pubname = $1 order by 1`, [g.publication]);
    expect(members.rows.map((r) => r.t)).toEqual([pipelineNames.groupHeartbeatTable, empty].sort());

    const writer = startWriter();
    t0 = Date.now();
    const second = await cli('tables', 'add', big, '--group', group, '--timeout', '5m');
    const writes = await writer.stop();
    console.log(`[groups] 2,000-row table added to the group in ${((Date.now() - t0) / 1000).toFixed(1)} s with ${writes} concurrent writes`);
    expect(second.code, second.text).toBe(0);
    expect(second.text).toContain(`${big}: streaming (key id; `);
    expect(writes).toBeGreaterThan(10);
    await pool.query(`insert into ${empty} values (1, 'streamed')`);
    for (const source of [big, empty, probe]) {
      t0 = Date.now();
      const r = await validate(source);
      console.log(`[groups] ${source}: ${r.outcome} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      expect(r.outcome, `${source}: ${r.summary}`).toBe('agree');
    }
    // Each at its own group's slot.
    expect((await validationSpecFor(pool, big, testEndpoints().groupPrefix)).catchUp).toMatchObject({ slotName: g.slot });
    expect((await validationSpecFor(pool, probe, testEndpoints().groupPrefix)).catchUp).toMatchObject({ slotName: pipelineNames.slot });
  });

  it('the same add twice changes nothing; an add into another group is refused with the way to move the table', { timeout: 120_000 }, async () => {
    const catalog = await pool.query(`select source, declaration, state, updated_at from ${pipelineNames.catalogTable} order by source`);
    const again = await cli('tables', 'add', big, '--group', group, '--timeout', '1m');
    expect(again.code, again.text).toBe(1);
    expect(again.text).toMatch(/is already captured \(state streaming\): nothing to do/);
    const move = await cli('tables', 'add', big, '--timeout', '1m');
    expect(move.code, move.text).toBe(1);
    const lines = move.text.split('\n').filter((l) => l.startsWith('astros: '));
    expect(lines, move.text).toHaveLength(1);
    expect(lines[0]).toContain(`${big} streams in group ${group}, not default: to move it, astros tables remove ${big}, then astros tables add ${big} --group default (reloads it)`);
    expect((await pool.query(`select source, declaration, state, updated_at from ${pipelineNames.catalogTable} order by source`)).rows).toEqual(catalog.rows);
  });

  it('groups list, tables list and the lag report show each group with its own slot', { timeout: 120_000 }, async () => {
    const groups = await cli('groups', 'list', '--json');
    expect(groups.code, groups.text).toBe(0);
    const rows = json<{ group: string; slot: string; connectorState: string; tables: string[]; slotState: string; lastHeartbeat: string | null }[]>(groups.text);
    expect(rows.find((r) => r.group === 'default')).toMatchObject({ slot: pipelineNames.slot, connectorState: expect.stringMatching(/^RUNNING/) as unknown });
    expect(rows.find((r) => r.group === group)).toMatchObject({ slot: g.slot, connectorState: 'RUNNING (tasks RUNNING)', tables: [big, empty].sort(), slotState: expect.stringMatching(/^active/) as unknown });
    expect(rows.find((r) => r.group === group)?.lastHeartbeat).not.toBeNull();
    const tables = json<{ source: string; group: string }[]>((await cli('tables', 'list', '--json')).text);
    expect(tables.find((t) => t.source === big)?.group).toBe(group);
    expect(tables.find((t) => t.source === probe)?.group).toBe('default');
    const lag = await runCommand('npx', ['tsx', 'cli/lag.ts', '--profile', 'test']);
    expect(lag.code, lag.text).toBe(0);
    expect(lag.text).toContain(`group ${group}: ${[big, empty].sort().join(', ')}`);
    expect(lag.text).toMatch(new RegExp(`slot ${g.slot} active, confirmed flush`));
    expect(lag.text).toMatch(new RegExp(`slot ${pipelineNames.slot} active, confirmed flush`));
    console.log(`[groups] groups list:\n${(await cli('groups', 'list')).text}`);
    // The stack's monitor: the group's slot and connector on /metrics and the page.
    const monitor = requireEnv('MONITOR_URL');
    const wanted = [`astros_replication_slot_active{slot="${g.slot}"} 1`, `astros_connector_tasks{connector="${g.connector}",state="RUNNING"} 1`];
    await waitFor(() => fetch(`${monitor}/metrics`).then((r) => r.text()), (t) => wanted.every((w) => t.includes(w)), `${wanted.join(', ')} on the monitor's /metrics`, 60_000, 500);
    await waitFor(() => fetch(`${monitor}/`).then((r) => r.text()), (t) => [g.slot, g.connector].every((x) => t.includes(x)), 'the group on the monitor page', 60_000, 500);
  });

  it("the group's own heartbeat moves its idle slot past WAL that other tables write", { timeout: 120_000 }, async () => {
    const { rows } = await pool.query<{ lsn: string }>(`insert into ${probe} (probe_key, label) values ($1, 'wal elsewhere') returning pg_current_wal_lsn()::text as lsn`, [`${tag}_idle`]);
    const mark = lsn(rows[0]!.lsn);
    await waitFor(
      () => pool.query<{ c: string }>(`select confirmed_flush_lsn::text as c from pg_replication_slots where slot_name = $1`, [g.slot]),
      (r) => r.rows[0] !== undefined && lsn(r.rows[0].c) >= mark,
      `the idle group's slot ${g.slot} to confirm ${rows[0]!.lsn}`,
      60_000,
      250,
    );
  });

  it("the group's connector stopped does not stop the default group's stream; resumed, its changes arrive", { timeout: 180_000 }, async () => {
    await connect.stop(g.connector);
    await waitFor(() => connect.connectorState(g.connector), (s) => s === 'STOPPED', `${g.connector} stopped`);
    await pool.query(`insert into ${empty} values (2, 'while stopped')`);
    await pool.query(`insert into ${probe} (probe_key, label) values ($1, 'other group stopped')`, [`${tag}_stopped`]);
    await probeArrived(`${tag}_stopped`);
    // Its group's connector is stopped: the row cannot have left Postgres.
    expect(await chRows(ch, `SELECT id FROM astros.gempty_${tag} FINAL WHERE id = 2`)).toEqual([]);
    await connect.resume(g.connector);
    await waitFor(() => chRows<{ id: number }>(ch, `SELECT id FROM astros.gempty_${tag} FINAL WHERE id = 2`), (r) => r.length === 1, 'the change made while its connector was stopped', 120_000);
  });

  it("the group's slot missing: recover --group makes it a new one and resyncs that group's tables only; the default group streams throughout", { timeout: 300_000 }, async () => {
    await connect.stop(g.connector);
    await waitFor(() => connect.connectorState(g.connector), (s) => s === 'STOPPED', `${g.connector} stopped`);
    await waitFor(() => dropInactiveSlot(pool, g.slot), (dropped) => dropped, `slot ${g.slot} released and dropped`, 60_000, 500);
    // Changes no slot keeps: the gap the recovery records and the resync repairs.
    await pool.query(`update ${big} set v = 'in the gap' where id <= 10`);
    await pool.query(`insert into ${probe} (probe_key, label) values ($1, 'while the group has no slot')`, [`${tag}_noslot`]);
    await probeArrived(`${tag}_noslot`);
    const r = await cli('recover', '--group', group, '--timeout', '5m');
    console.log(`[groups] recover --group:\n${r.text.split('\n').filter((l) => !l.startsWith('recover: ')).join('\n')}`);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain(`slot ${g.slot}: was missing; the connector streams from a new slot`);
    expect(r.text).toMatch(new RegExp(`capture gap: .* recorded in \\S+ for 2 table\\(s\\)`));
    expect(r.text).toMatch(new RegExp(`${big.replace('.', '\\.')}: resynced 2,000 rows at \\S+ \\(10 changed, 0 deleted, 1990 unchanged\\); .*: agree`));
    expect(r.text).toContain(`${empty}: resynced 2 rows`);
    expect(r.text).not.toContain(probe);
    expect(await slotExists(g.slot)).toBe(true);
    await pool.query(`insert into ${empty} values (3, 'after the recovery')`);
    await waitFor(() => chRows<{ id: number }>(ch, `SELECT id FROM astros.gempty_${tag} FINAL WHERE id = 3`), (rows) => rows.length === 1, 'a change after the recovery', 120_000);
  });

  it('adoption: the default group keeps its connector configuration, its offsets and slot only move forward, nothing is read again', { timeout: 60_000 }, async () => {
    const after = await defaultPosition();
    // The table list follows the catalog (earlier test files capture and drop tables); everything else is kept.
    const kept = (c: Record<string, string>) => Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'table.include.list'));
    expect(kept(after.config)).toEqual(kept(before.config));
    expect(after.config['table.include.list']?.split(',')).toContain('public.cdc_types_probe');
    expect(after.offset).toBeGreaterThanOrEqual(before.offset);
    expect(lsn(after.confirmed)).toBeGreaterThanOrEqual(lsn(before.confirmed));
    const [reads] = await chRows<{ n: string }>(ch, `SELECT count() AS n FROM astros.cdc_types_probe_changes WHERE op = 'r' AND startsWith(probe_key, {t:String})`, { t: tag });
    expect(reads!.n).toBe('0');
  });

  it("removing the group's last table removes its connector, slot and publication, and says so", { timeout: 300_000 }, async () => {
    const one = await cli('tables', 'remove', big, '--timeout', '4m');
    expect(one.code, one.text).toBe(0);
    expect(one.text).not.toContain('no table left');
    expect(await connect.config(g.connector)).toMatchObject({ 'table.include.list': empty });
    const last = await cli('tables', 'remove', empty, '--timeout', '4m');
    console.log(`[groups] tables remove of the group's last table:\n${last.text.split('\n').filter((l) => !l.startsWith('tables: ')).join('\n')}`);
    expect(last.code, last.text).toBe(0);
    expect(last.text).toContain(`group ${group}: no table left; its changes up to `);
    expect(last.text).toContain(`connector ${g.connector}, slot ${g.slot} and publication ${g.publication} removed`);
    expect(await connect.names()).not.toContain(g.connector);
    expect(await slotExists(g.slot)).toBe(false);
    expect((await pool.query(`select 1 from pg_publication where pubname = $1`, [g.publication])).rowCount).toBe(0);
    // The default group streams on.
    await pool.query(`insert into ${probe} (probe_key, label) values ($1, 'after the group went')`, [`${tag}_after`]);
    await probeArrived(`${tag}_after`);
  });
});
