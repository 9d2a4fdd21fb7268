/**
 * A table group reading a second database of the test server
 * (ASTROS_GROUP_DATABASES), through the real CLI and a worker of this test's
 * own task queue:
 *
 *  - its publication, heartbeat and slot in that database, its connector
 *    reading it; writers on both databases; validation agrees for both groups;
 *    a same-named table in the pipeline's database refused (its drop leaves
 *    the other alone);
 *  - its schema changes followed: a column added there reaches ClickHouse
 *    (that database's own DDL log, read by the schema-change watch) with its
 *    values, a column renamed there too, validation agreeing after each;
 *  - groups list, the lag report, the monitor's /metrics and page show it;
 *  - its lost slot recovered with recover --group while the default group streams;
 *  - its last table removed takes its connector, slot and publication.
 * A group in the pipeline's database: groups.test.ts.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropInactiveSlot } from '../../connectors/postgres/slots.ts';
import { groupNames, pipelineNames } from '../../shared/names.ts';
import { config } from '../../config/load.ts';
import { profilePasswords, roleUrl } from '../../config/profiles.ts';
import { prepareSourceDatabase } from '../../stack/components/postgres.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import { chRows, clickhouse, dropCapturedTable, loopWriter, repoRoot, requireEnv, runCommand, startPipelineTestWorker, testConnect, uniqueTag, waitFor, type TestWorker } from './helpers.ts';
import { cliOn, json, probe, probeArrived as probeArrivedIn, slotExists as slotExistsOn, takeDownGroup, validateTable } from './groups-helpers.ts';
import { lastLogId, settled } from './schema-change-helpers.ts';

const tag = uniqueTag('grpdb');
// The group reads a second database of the test server (made and prepared once, as the stack does).
const secondDb = 'astros_second';
const group2 = tag;
const g2 = groupNames(group2);
const other = `public.gother_${tag}`;
const previousGroupDatabases = process.env.ASTROS_GROUP_DATABASES;
process.env.ASTROS_GROUP_DATABASES = `${group2}=${secondDb}`;
const taskQueue = `groups-db-${tag}`;

let pool: pg.Pool;
let pool2: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker;
const connect = testConnect();

const cli = cliOn(taskQueue);
const validate = (source: string): Promise<ValidationReport> => validateTable(pool, ch, source, `groups-db-${tag}-${source}`, (grp) => (grp === group2 ? pool2 : pool));
const slotExists = (slot: string) => slotExistsOn(pool, slot);
const probeArrived = (key: string) => probeArrivedIn(ch, key);

/** Updates the second database's table until stopped. */
const startWriter = () => loopWriter((n) => pool2.query(`update ${other} set v = v || '+' where id = $1`, [1 + (n % 500)]).then(() => undefined), 20);

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 6 });
  const url = new URL(requireEnv('DATABASE_URL'));
  const superuser = roleUrl(profilePasswords('test', config('test').stack.stateDir), 'superuser', Number(url.port), url.hostname);
  await prepareSourceDatabase(repoRoot, superuser, secondDb);
  url.pathname = `/${secondDb}`;
  pool2 = new pg.Pool({ connectionString: url.toString(), max: 4 });
  await pool2.query(`create table ${other} (id int primary key, v text not null)`);
  await pool2.query(`insert into ${other} select g, 'row ' || g from generate_series(1, 500) g`);
  ch = clickhouse();
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
  await worker.client.workflow.start('watchSchemaChanges', { taskQueue, workflowId: `schema-changes-${tag}`, args: [{ tables: [other], pollSeconds: 1 }] });
});

afterAll(async () => {
  await worker?.client.workflow.getHandle(`schema-changes-${tag}`).terminate('test done').catch(() => undefined);
  await worker?.stop();
  await dropCapturedTable(pool, ch, other).catch(() => undefined);
  await pool2?.query(`drop table if exists ${other}`).catch(() => undefined);
  if (pool2) await takeDownGroup(pool2, group2);
  await pool2?.query(`delete from public.cdc_ddl_log where source = $1`, [other]).catch(() => undefined);
  await pool2?.end();
  if (previousGroupDatabases === undefined) delete process.env.ASTROS_GROUP_DATABASES;
  else process.env.ASTROS_GROUP_DATABASES = previousGroupDatabases;
  await pool.query(`delete from ${probe} where probe_key like $1`, [`${tag}%`]).catch(() => undefined);
  await ch?.close();
  await pool?.end();
});

describe('a table group reading a second database', () => {
  it('the group is made in that database (publication, heartbeat, slot) while writers change both databases; both groups validate', { timeout: 300_000 }, async () => {
    let stop = false;
    let n = 0;
    const writing = (async () => {
      for (; !stop; n++) {
        await pool2.query(`update ${other} set v = v || '+' where id = $1`, [1 + (n % 500)]);
        if (n % 4 === 0) await pool.query(`insert into ${probe} (probe_key, label, counter) values ($1, 'groups db2', $2)`, [`${tag}_d${n}`, n]);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = Date.now();
    const add = await cli('tables', 'add', other, '--group', group2, '--timeout', '5m');
    stop = true;
    await writing;
    console.log(`[groups] 500-row table of database ${secondDb} added in a new group in ${((Date.now() - t0) / 1000).toFixed(1)} s with ${n} concurrent writes`);
    expect(add.code, add.text).toBe(0);
    expect(add.text).toContain(`${other}: streaming (key id; `);
    expect(await connect.config(g2.connector)).toMatchObject({ 'database.dbname': secondDb, 'slot.name': g2.slot, 'publication.name': g2.publication, 'table.include.list': other });
    const { rows: slots } = await pool.query<{ database: string }>(`select database from pg_replication_slots where slot_name = $1`, [g2.slot]);
    expect(slots).toEqual([{ database: secondDb }]);
    const members = await pool2.query<{ t: string }>(`select schemaname || '.' || tablename as t from pg_publication_tables where pubname = $1 order by 1`, [g2.publication]);
    expect(members.rows.map((r) => r.t)).toEqual([pipelineNames.groupHeartbeatTable, other].sort());
    // Nothing of the group in the pipeline's database.
    expect((await pool.query(`select 1 from pg_publication where pubname = $1`, [g2.publication])).rowCount).toBe(0);
    await pool2.query(`insert into ${other} values (501, 'streamed from db2')`);
    for (const source of [other, probe]) {
      const r = await validate(source);
      expect(r.outcome, `${source}: ${r.summary}`).toBe('agree');
    }
    await waitFor(() => pool2.query<{ n: string }>(`select count(*) as n from public.cdc_group_heartbeat where group_name = $1`, [group2]), (r) => r.rows[0]?.n === '1', `group ${group2}'s heartbeat in ${secondDb}`, 30_000, 250);
    // The same schema.table in the pipeline's database is refused: tables are named by schema.table.
    await pool.query(`create table ${other} (id int primary key)`);
    const twin = await cli('tables', 'add', other, '--timeout', '1m');
    // The pipeline database's schema-change triggers leave the other database's table alone.
    await pool.query(`drop table ${other}`);
    expect((await pool.query(`select state from ${pipelineNames.catalogTable} where source = $1`, [other])).rows).toEqual([{ state: 'streaming' }]);
    expect(twin.code, twin.text).toBe(1);
    expect(twin.text).toContain(`${other} is already captured from database ${secondDb} (group ${group2}); tables are named by schema.table across source databases`);
  });


  it("its schema changes are followed: a column added there reaches ClickHouse with its values, a column renamed too; validation agrees", { timeout: 300_000 }, async () => {
    const table = `astros.gother_${tag}`;
    let mark = await lastLogId(pool2);
    const writer = startWriter();
    let t0 = Date.now();
    await pool2.query(`alter table ${other} add column note text`);
    await pool2.query(`update ${other} set note = 'note ' || id where id <= 20`);
    // Logged in the second database's own DDL log, applied by the watch through the group's connection.
    expect(await settled(pool2, other, mark)).toEqual(['applied']);
    const writes = await writer.stop();
    await waitFor(() => chRows<{ n: string }>(ch, `SELECT countIf(note LIKE 'note %') AS n FROM ${table} FINAL`), (r) => r[0]?.n === '20', `the added column's values in ${table}`, 120_000, 500);
    console.log(`[groups] ADD COLUMN in ${secondDb} applied and its values in ClickHouse in ${((Date.now() - t0) / 1000).toFixed(1)} s (${writes} concurrent writes)`);
    let r = await validate(other);
    expect(r.outcome, r.summary).toBe('agree');
    // A rename needs the values only Postgres has: applied, then the table reloaded from that database.
    mark = await lastLogId(pool2);
    t0 = Date.now();
    await pool2.query(`alter table ${other} rename column note to remark`);
    expect(await settled(pool2, other, mark)).toEqual(['applied']);
    await waitFor(() => chRows<{ n: string }>(ch, `SELECT countIf(remark LIKE 'note %') AS n FROM ${table} FINAL`), (rows) => rows[0]?.n === '20', `the renamed column in ${table}`, 120_000, 500);
    console.log(`[groups] RENAME COLUMN in ${secondDb} applied (with a reload) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    r = await validate(other);
    expect(r.outcome, r.summary).toBe('agree');
    // The pipeline's database logged none of it.
    expect((await pool.query(`select 1 from public.cdc_ddl_log where source = $1`, [other])).rowCount).toBe(0);
  });

  it('groups list, the lag report, the monitor\'s /metrics and page show the group with its slot in that database', { timeout: 120_000 }, async () => {
    const groups = await cli('groups', 'list', '--json');
    expect(groups.code, groups.text).toBe(0);
    const rows = json<{ group: string; database: string; slot: string; connectorState: string; tables: string[]; slotState: string; lastHeartbeat: string | null }[]>(groups.text);
    expect(rows.find((r) => r.group === group2)).toMatchObject({ database: secondDb, slot: g2.slot, connectorState: 'RUNNING (tasks RUNNING)', tables: [other], slotState: expect.stringMatching(/^active/) as unknown });
    expect(rows.find((r) => r.group === group2)?.lastHeartbeat).not.toBeNull();
    const lag = await runCommand('npx', ['tsx', 'cli/lag.ts', '--profile', 'test']);
    expect(lag.code, lag.text).toBe(0);
    expect(lag.text).toMatch(new RegExp(`slot ${g2.slot} active, confirmed flush`));
    expect(lag.text).toMatch(new RegExp(`slot ${pipelineNames.slot} active, confirmed flush`));
    const monitor = requireEnv('MONITOR_URL');
    const wanted = [`astros_replication_slot_active{slot="${g2.slot}"} 1`, `astros_connector_tasks{connector="${g2.connector}",state="RUNNING"} 1`];
    await waitFor(() => fetch(`${monitor}/metrics`).then((r) => r.text()), (t) => wanted.every((w) => t.includes(w)), `${wanted.join(', ')} on the monitor's /metrics`, 60_000, 500);
    await waitFor(() => fetch(`${monitor}/`).then((r) => r.text()), (t) => [g2.slot, g2.connector].every((x) => t.includes(x)), 'the group on the monitor page', 60_000, 500);
  });

  it("the second database's group: its slot dropped, recover --group makes a new one there and resyncs its table; the default group streams", { timeout: 300_000 }, async () => {
    await connect.stop(g2.connector);
    await waitFor(() => connect.connectorState(g2.connector), (s) => s === 'STOPPED', `${g2.connector} stopped`);
    await waitFor(() => dropInactiveSlot(pool2, g2.slot), (dropped) => dropped, `slot ${g2.slot} released and dropped`, 60_000, 500);
    await pool2.query(`update ${other} set v = 'in the gap' where id <= 5`);
    await pool.query(`insert into ${probe} (probe_key, label) values ($1, 'while the db2 group has no slot')`, [`${tag}_noslot2`]);
    await probeArrived(`${tag}_noslot2`);
    const r = await cli('recover', '--group', group2, '--timeout', '5m');
    console.log(`[groups] recover --group (second database):\n${r.text.split('\n').filter((l) => !l.startsWith('recover: ')).join('\n')}`);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain(`slot ${g2.slot}: was missing; the connector streams from a new slot`);
    expect(r.text).toMatch(new RegExp(`${other.replace('.', '\\.')}: resynced 501 rows at \\S+ \\(5 changed, 0 deleted, 496 unchanged\\); .*: agree`));
    expect(r.text).not.toContain(probe);
    expect((await pool.query(`select database from pg_replication_slots where slot_name = $1`, [g2.slot])).rows).toEqual([{ database: secondDb }]);
    await pool2.query(`insert into ${other} values (502, 'after the recovery')`);
    await waitFor(() => chRows<{ id: number }>(ch, `SELECT id FROM astros.gother_${tag} FINAL WHERE id = 502`), (rows) => rows.length === 1, 'a change in the second database after the recovery', 120_000);
  });

  it("removing the second database's group's last table removes its connector, slot and publication there", { timeout: 300_000 }, async () => {
    const last = await cli('tables', 'remove', other, '--timeout', '4m');
    expect(last.code, last.text).toBe(0);
    expect(last.text).toContain(`group ${group2}: no table left; its changes up to `);
    expect(last.text).toContain(`connector ${g2.connector}, slot ${g2.slot} and publication ${g2.publication} removed`);
    expect(await connect.names()).not.toContain(g2.connector);
    expect(await slotExists(g2.slot)).toBe(false);
    expect((await pool2.query(`select 1 from pg_publication where pubname = $1`, [g2.publication])).rowCount).toBe(0);
  });
});
