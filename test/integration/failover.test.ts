/**
 * The source fails over to a streaming standby while a writer commits, on the
 * test stack (the stack's own Postgres: afterwards the promoted standby is the
 * stack's Postgres, on the same port, and the pipeline streams from it).
 *
 *   1. the standby component is started (pg_basebackup of the primary,
 *      streaming; its own port) and catches up; a writer inserts one row per
 *      transaction into a captured table of the test's own, on whichever
 *      server takes writes;
 *   2. the standby is cut off from the primary, which writes on past it (a
 *      captured change the failover loses, at a WAL position the new primary
 *      has not reached: the recovery must move past it); the primary is
 *      killed, the standby promoted (the writer goes on there,
 *      on the standby's port), then moved to the primary's address
 *      (stack/lib/failover.ts): the worker, Kafka Connect and the monitor
 *      reach the new primary unchanged, the writer too;
 *   3. reported: the pipeline's slot does not exist on the new primary (a
 *      Postgres 15 standby has no logical slots): the lag report's first
 *      line, the slot_lost alert of the test's own monitor;
 *   4. `astros recover`: new slot, the gap recorded, every table reloaded,
 *      validation agreeing; the writer keeps committing through it;
 *   5. afterwards validation agrees again, and every change committed after
 *      the recovery point (the new slot's consistent point) is in the table's
 *      `<t>_changes` exactly once.
 *
 * The standby exists only during this test (about 60 MB on a fresh stack).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import { formatLsn } from '../../shared/lsn.ts';
import { pipelineNames, tableNames } from '../../shared/names.ts';
import { captureGapsTable, readGaps } from '../../connectors/clickhouse/capture-gaps.ts';
import { formatLagReport, lagReport } from '../../activities/lag-report.ts';
import { slotProblem, slotState } from '../../connectors/postgres/slots.ts';
import { componentsFor } from '../../stack/components/index.ts';
import { databaseUrl, withClient } from '../../stack/components/postgres.ts';
import { standby } from '../../stack/components/standby.ts';
import { createContext } from '../../stack/lib/context.ts';
import { moveStandbyToPrimary, promoteStandby } from '../../stack/lib/failover.ts';
import { StackManager } from '../../stack/lib/manager.ts';
import { FollowingWriter } from './failover-writer.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, postgres, requireEnv, runCommand, startPipelineTestWorker, testEndpoints, uniqueTag, waitFor, type TestWorker, testKafka } from './helpers.ts';
import { startAlertMonitor, type AlertMonitor } from './alert-monitor.ts';
import { runRecover } from './recover-helpers.ts';

const tag = uniqueTag('fo');
const source = `public.failover_${tag}`;
const names = tableNames(source);
const taskQueue = `failover-${tag}`;

const manager = new StackManager(createContext('test', (m) => console.log(m)), componentsFor('test'));
const standbyUrl = databaseUrl(manager.ctx, 'app', manager.ctx.ports.postgresStandby);
let pool: pg.Pool;
let su: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker;
let alerts: AlertMonitor;
let writer: FollowingWriter | undefined;

const isPrimary = (url: string) => withClient(url, (c) => c.query<{ r: boolean }>('select pg_is_in_recovery() as r')).then((r) => r.rows[0]?.r === false);

beforeAll(async () => {
  pool = postgres();
  pool.on('error', () => undefined);
  su = postgres(requireEnv('PG_SUPERUSER_URL'));
  su.on('error', () => undefined);
  ch = clickhouse();
  await pool.query(`create table ${source} (id bigint primary key, v text not null)`);
  await captureTable({ source });
  await waitFor(() => new KafkaConnect(requireEnv('CONNECT_URL')).state(pipelineNames.connector), (c) => c.running && c.taskTables.includes(source), `the connector's task capturing ${source}`, 120_000, 500);
  alerts = await startAlertMonitor(tag, ch);
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
}, 300_000);

afterAll(async () => {
  await writer?.stop();
  // The stack keeps a primary on its port whatever failed above, and the pipeline a slot.
  if (manager.running(standby)) {
    if (await isPrimary(standbyUrl).catch(() => false)) await moveStandbyToPrimary(manager);
    else await manager.down(['standby']);
  }
  await manager.up(['postgres'], { withDbt: false });
  if (slotProblem(await slotState(pool, pipelineNames.slot).catch(() => ({ slot: pipelineNames.slot, found: true, walStatus: null, active: null })))) await runRecover(taskQueue);
  await worker?.stop();
  await alerts?.stop();
  await ch?.command({ query: `DELETE FROM ${captureGapsTable} WHERE source_table = {s:String}`, query_params: { s: source } }).catch(() => undefined);
  if (pool && ch) await dropCapturedTable(pool, ch, source);
  await ch?.close();
  await su?.end();
  await pool?.end();
});

describe('a failover of the source to its standby', () => {
  it('under a writer: reported, recovered, validation agrees, every change after the recovery point in <t>_changes once', { timeout: 420_000 }, async () => {
    await manager.up(['standby'], { withDbt: false });
    const primaryLsn = (await pool.query<{ l: string }>('select pg_current_wal_lsn()::text as l')).rows[0]!.l;
    await waitFor(
      () => withClient(databaseUrl(manager.ctx, 'superuser', manager.ctx.ports.postgresStandby), (c) => c.query<{ ok: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [primaryLsn])),
      (r) => r.rows[0]?.ok === true,
      'the standby caught up',
      60_000,
      200,
    );
    writer = new FollowingWriter(source, [requireEnv('DATABASE_URL'), standbyUrl]);
    writer.start();
    await writer.more(50);

    // Asynchronous replication loses the primary's last commits in a failover, and Debezium may have
    // captured them. Made certain here: the standby stops receiving, the primary's WAL position jumps
    // two segments and a captured change is written past it. Its version is above every position the
    // new primary reaches before the recovery, which must move past it or the reload would lose to it.
    const standbySu = databaseUrl(manager.ctx, 'superuser', manager.ctx.ports.postgresStandby);
    await withClient(standbySu, async (c) => {
      await c.query(`alter system set primary_conninfo = ''`);
      await c.query('select pg_reload_conf()');
    });
    await waitFor(() => withClient(standbySu, (c) => c.query('select 1 from pg_stat_wal_receiver')), (r) => r.rowCount === 0, 'the standby cut off', 30_000, 200);
    await su.query(`do $$ begin for i in 1..2 loop perform pg_logical_emit_message(false, 'astros-test', 'cut off'); perform pg_switch_wal(); end loop; end $$`);
    await pool.query(`insert into ${source} (id, v) values (-1, 'lost in the failover')`);
    await waitFor(() => chRows(ch, `SELECT 1 FROM ${names.changes} FINAL WHERE id = -1`), (x) => x.length === 1, 'the lost change captured', 60_000, 200);

    // The primary dies; the standby is promoted and takes the writes on its own port, then the primary's address.
    await manager.kill('postgres');
    const killedAt = writer.commits.length;
    const promoted = await promoteStandby(manager);
    await writer.more(30);
    const onStandbyPort = writer.commits.filter((c) => c.port === String(manager.ctx.ports.postgresStandby)).length;
    await moveStandbyToPrimary(manager);
    await writer.more(30);
    console.log(`[failover] promoted to timeline ${promoted.timeline} at ${promoted.lsn}; ${onStandbyPort} commits on the standby's port before it moved; in doubt so far: ${writer.inDoubt}`);

    // Reported: the slot does not exist on the new primary.
    await waitFor(async () => alerts.received.filter((t) => t.startsWith(`[FIRING] slot_lost (slot=${pipelineNames.slot})`)).length, (n) => n === 1, 'slot_lost on the webhook', 60_000, 200);
    const e = testEndpoints();
    const lag = formatLagReport(await lagReport({ db: pool, kafka: testKafka(), clickhouse: ch }, { groupPrefix: e.groupPrefix }));
    console.log(`[failover] lag report, first line: ${lag.split('\n')[0]}`);
    expect(lag.split('\n')[0]).toMatch(new RegExp(`^FAILED: replication slot ${pipelineNames.slot} does not exist: .*failed over to a standby.*run npm run recover`));
    console.log(`[failover] connector before recovery: ${await new KafkaConnect(e.connectUrl).connectorState(pipelineNames.connector)}; ${(await new KafkaConnect(e.connectUrl).state(pipelineNames.connector)).failure ?? 'no failed task'}`);

    // Recovered while the writer goes on.
    const r = await runRecover(taskQueue);
    const recoveredAt = writer.commits.length;
    console.log(`[failover] astros recover (exit ${r.code}):\n${r.text.split('\n').filter((l) => !l.includes('waiting for')).join('\n')}`);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toMatch(new RegExp(`slot ${pipelineNames.slot}: was missing; the connector streams from a new slot`));
    expect(r.text).toMatch(/the new primary's WAL position was moved past the changes captured before the failover/);
    expect(r.text).toMatch(new RegExp(`${source}: resynced .*: agree`));
    expect(r.text).not.toMatch(/: (mismatch|lag) /);
    const [gap] = await readGaps(ch, [source]);
    console.log(`[failover] capture gap: ${JSON.stringify(gap)}`);
    expect(gap).toMatchObject({ reason: 'slot missing', reloadLsn: expect.any(String) });
    expect(BigInt(gap!.toLsn)).toBeGreaterThan(BigInt(gap!.fromLsn));

    await writer.more(50);
    await writer.stop();
    const v = await runCommand('npx', ['tsx', 'cli/astros.ts', 'validate', '--table', source], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
    console.log(`[failover] validate after the writer stopped (exit ${v.code}): ${v.text.split('\n').filter((l) => l.includes('agree') || l.includes('mismatch')).join(' | ')}`);
    expect(v.code, v.text).toBe(0);

    expect(await chRows(ch, `SELECT 1 FROM ${names.current} FINAL WHERE id = -1 AND is_deleted = 0`)).toEqual([]);

    // Every change committed on the new primary after the recovery point once in the change history.
    const after = writer.commits.slice(killedAt).filter((c) => c.lsnBefore >= BigInt(gap!.toLsn));
    const captured = new Map(
      (await chRows<{ id: string; n: string; ops: string }>(ch, `SELECT toString(id) AS id, count() AS n, arrayStringConcat(groupArray(op), ',') AS ops FROM ${names.changes} FINAL GROUP BY id`)).map((x) => [
        Number(x.id),
        { n: Number(x.n), ops: x.ops },
      ]),
    );
    const wrong = after.filter((c) => captured.get(c.id)?.n !== 1 || captured.get(c.id)?.ops !== 'c');
    console.log(
      `[failover] commits: ${writer.commits.length} (${recoveredAt} before recover returned), in doubt ${writer.inDoubt}; after the recovery point ${formatLsn(gap!.toLsn)}: ${after.length}, ` +
        `in ${names.changes} once as an insert: ${after.length - wrong.length}, otherwise: ${wrong.length}`,
    );
    expect(after.length).toBeGreaterThanOrEqual(50);
    expect(wrong.map((c) => ({ id: c.id, ...captured.get(c.id) }))).toEqual([]);
  });
});
