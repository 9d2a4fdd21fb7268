/**
 * resyncTable on the running test stack: a 200,000-row table that was captured
 * with no snapshot (ClickHouse holds none of its rows) is loaded straight from
 * Postgres while 20,000 changes stream into it, some from transactions held
 * open across the load's start; validation agrees and nothing streamed is lost
 * or reverted. A second resync of the undrifted table writes no history; a
 * drift planted in ClickHouse is repaired with one history row. A worker
 * killed mid-load resumes without reading finished ranges again; a cancelled
 * resync leaves the live copy exactly as it was, and a cancelled first load
 * leaves no history. A transaction open when the resync starts is waited for,
 * and its change is kept.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableNames } from '../../shared/names.ts';
import { type ResyncTableResult } from '../../workflows/resync-table.ts';
import { resyncProgressQuery, resyncWorkflowId } from '../../shared/workflows.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, repoRoot, requireEnv, runCommand, startPipelineTestWorker, testEndpoints, uniqueTag, waitFor, type TestWorker } from './helpers.ts';

const tag = uniqueTag('rs');
const source = `public.resync_${tag}`;
const taskQueue = `resync-${tag}`;
const ROWS = 200_000;
const names = () => tableNames(source, { groupPrefix: testEndpoints().groupPrefix });

let pool: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker | undefined;
let client: Client;

async function chState(): Promise<{ rows: string; sum: string }> {
  const [r] = await chRows<{ rows: string; sum: string }>(ch, `SELECT toString(count()) AS rows, toString(sum(cityHash64(id, name, n, tags, amount))) AS sum FROM ${names().current} FINAL WHERE is_deleted = 0`);
  return r!;
}

async function runResync(extra: Record<string, unknown> = {}): Promise<ResyncTableResult> {
  return client.workflow.execute('resyncTable', { taskQueue, workflowId: `${resyncWorkflowId(source)}-${Date.now()}`, args: [{ source, ...extra }] });
}

/** 20,000 changes: updates, inserts, deletes; every 50th a transaction holding two updates of one key open for 200 ms. */
async function writeChanges(total: number): Promise<void> {
  let next = ROWS + 1;
  let done = 0;
  const one = async (i: number) => {
    const id = 1 + ((i * 7919) % ROWS);
    if (i % 50 === 0) {
      const c = await pool.connect();
      try {
        await c.query('begin');
        await c.query(`update ${source} set n = n + 1 where id = $1`, [id]);
        await new Promise((r) => setTimeout(r, 200));
        await c.query(`update ${source} set name = name || '+' where id = $1`, [id]);
        await c.query('commit');
      } finally {
        c.release();
      }
      return 2;
    }
    if (i % 10 === 3) await pool.query(`delete from ${source} where id = $1`, [id]);
    else if (i % 10 === 5) await pool.query(`insert into ${source} (id, name, n, tags, amount) values ($1, 'new', 0, '{x}', 1.5)`, [next++]);
    else await pool.query(`update ${source} set n = n + 1, tags = array_append(tags, 'u') where id = $1`, [id]);
    return 1;
  };
  // Four writers, batched in multi-row statements now and then so 20k changes take seconds, not minutes.
  let i = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (done < total) {
        const k = i++;
        if (k % 5 === 4) {
          const from = 1 + ((k * 104729) % (ROWS - 100));
          const r = await pool.query(`update ${source} set n = n + 1 where id between $1 and $1 + 99`, [from]);
          done += r.rowCount ?? 0;
        } else done += await one(k);
      }
    }),
  );
}

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 8 });
  ch = clickhouse();
  await pool.query(`create table ${source} (id bigint primary key, name text not null, n integer, tags text[], amount numeric(12,2), note text)`);
  await pool.query(
    `insert into ${source} select g, 'row ' || g || case when g % 97 = 0 then ' é ''"\\' else '' end, g % 1000,
            case when g % 5 = 0 then null else array['a', 'b' || g] end, g * 0.01, case when g % 3 = 0 then null else '' end
       from generate_series(1, ${ROWS}) g`,
  );
  await pool.query(`analyze ${source}`);
  // Three partitions: the catch-up before and after the swap waits for every one.
  await captureTable({ source, partitions: 3 });
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
  client = worker.client;
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await dropCapturedTable(pool, ch, source);
  await ch?.close();
  await pool?.end();
});

describe('resyncTable', () => {
  it('a cancelled first load leaves no history and no shadow objects', { timeout: 60_000 }, async () => {
    const n = names();
    const objects = () => chRows<{ name: string }>(ch, `SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE {p:String} ORDER BY name`, { db: n.database, p: `${n.base}_resync%` });
    const reads = async () => (await chRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM ${n.changes} WHERE op = 'r'`))[0]!.n;
    expect(await reads()).toBe('0');
    const handle = await client.workflow.start('resyncTable', { taskQueue, workflowId: `${resyncWorkflowId(source)}-first-${Date.now()}`, args: [{ source, rangeRows: 10_000, parallel: 1 }] });
    await waitFor(() => handle.query(resyncProgressQuery), (p) => p.rangesDone >= 1, 'a range loaded', 45_000, 100);
    // The live copy is empty: the loaded rows' history is being written beside it.
    expect((await objects()).map((o) => o.name)).toContain(`${n.base}_resync_history`);
    await handle.cancel();
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect(await objects()).toEqual([]);
    expect(await reads()).toBe('0');
  });

  it('loads 200,000 rows while 20,000 changes stream in: validation agrees, nothing lost or reverted', { timeout: 240_000 }, async () => {
    const before = await chState();
    expect(Number(before.rows)).toBeLessThan(1000); // captured without a snapshot: the load brings the rows
    // One transaction open across the resync's start: it must be waited for, and its change must win.
    const held = await pool.connect();
    let resync: Promise<ResyncTableResult>;
    try {
      await held.query('begin');
      await held.query(`update ${source} set name = 'held open' where id = 17`);
      resync = runResync({ rangeRows: 40_000 });
      // The worker's wait for open transactions is the last statement of its session (S0 is read by then);
      // the pattern is built so that this probe's own text does not match it. The probe has its own
      // connection: through the worker's pool it would reuse the session the wait just released (the pool
      // hands out the last one returned) and replace the statement it looks for with its own.
      const probe = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
      await probe.connect();
      try {
        await waitFor(
          () => probe.query(`select 1 from pg_stat_activity where query like '%pg_snapshot' || '_xmin(pg_current_snapshot()) > $1%'`),
          (r) => (r.rowCount ?? 0) > 0,
          'the resync waiting for the open transaction',
          60_000,
          50,
        );
      } finally {
        await probe.end();
      }
      await held.query('commit');
    } finally {
      await held.query('rollback').catch(() => undefined);
      held.release();
    }
    const writes = writeChanges(20_000);
    const [result] = await Promise.all([resync, writes]);
    console.log(`[resync] ${JSON.stringify(result)}`);
    expect(result.waitedFor).toBeGreaterThanOrEqual(1);
    const [held17] = await chRows<{ name: string }>(ch, `SELECT name FROM ${names().current} FINAL WHERE id = 17`);
    expect(held17?.name).toBe('held open');
    expect(result.validation?.outcome, result.validation?.summary).toBe('agree');
    expect(result.rowsRead).toBeGreaterThanOrEqual(ROWS - 5_000);
    expect(result.ranges).toBeGreaterThan(1);

    // The writes that finished after the validation are there too.
    const again = await runResync({ rangeRows: 100_000 });
    expect(again.validation?.outcome, again.validation?.summary).toBe('agree');
    // Nothing drifted: the second load adds no history.
    expect(again.changedRows).toBe(0);
    expect(again.deletedRows).toBe(0);
  });

  it('repairs drift planted in ClickHouse with one history row per repaired key', { timeout: 120_000 }, async () => {
    const n = names();
    await ch.command({ query: `INSERT INTO ${n.current} (id, name, n, tags, amount, amount_text, note, commit_ts, version, is_deleted) VALUES (999999999, 'ghost', 1, [], 1, '1', NULL, now64(3), 1, 0)` });
    await ch.command({ query: `INSERT INTO ${n.current} (id, name, n, tags, amount, amount_text, note, commit_ts, version, is_deleted) SELECT id, 'drifted', n, tags, amount, amount_text, note, commit_ts, version, 0 FROM ${n.current} FINAL WHERE id = 42` });
    const result = await runResync();
    expect(result.validation?.outcome, result.validation?.summary).toBe('agree');
    expect(result.deletedRows).toBe(1);
    expect(result.changedRows).toBe(1);
    const [ghost] = await chRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM ${n.current} FINAL WHERE id = 999999999 AND is_deleted = 0`);
    expect(ghost?.n).toBe('0');
  });

  it('refuses a table that is not captured with one line naming where to look, starting nothing', { timeout: 60_000 }, async () => {
    const r = await runCommand('npx', ['tsx', 'cli/astros.ts', 'resync', 'public.not_captured_here', '--timeout', '30s'], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
    expect(r.code, r.text).toBe(1);
    const errors = r.text.split('\n').filter((l) => l.startsWith('astros:'));
    expect(errors, r.text).toEqual(['astros: public.not_captured_here is not captured (astros tables list shows what is)']);
  });

  it('a cancelled resync leaves the live copy exactly as it was and drops its shadow', { timeout: 120_000 }, async () => {
    const before = await chState();
    const handle = await client.workflow.start('resyncTable', { taskQueue, workflowId: `${resyncWorkflowId(source)}-cancel-${Date.now()}`, args: [{ source, rangeRows: 10_000, parallel: 1 }] });
    await waitFor(() => handle.query(resyncProgressQuery), (p) => p.rangesDone >= 1, 'a range loaded', 60_000, 250);
    await handle.cancel();
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect(await chState()).toEqual(before);
    const left = await chRows<{ name: string }>(ch, `SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE {p:String}`, { db: names().database, p: `${names().base}_resync%` });
    expect(left).toEqual([]);
  });

  it('a worker killed mid-load resumes without reading finished ranges again', { timeout: 180_000 }, async () => {
    // This test's own worker process on its own task queue, killed with SIGKILL by its pid.
    const killQueue = `${taskQueue}-kill`;
    const spawnWorker = (): ChildProcess => {
      const log = fs.openSync(path.join(repoRoot, '.stack', 'resync-worker.log'), 'a');
      const child = spawn(process.execPath, ['--import', 'tsx', 'cli/worker.ts'], {
        cwd: repoRoot,
        env: { ...process.env, TASK_QUEUE: killQueue, ASTROS_MIGRATE_ON_START: 'false', LOG_LEVEL: 'WARN' },
        stdio: ['ignore', log, log],
      });
      fs.closeSync(log);
      return child;
    };
    let child = spawnWorker();
    try {
      const handle = await client.workflow.start('resyncTable', { taskQueue: killQueue, workflowId: `${resyncWorkflowId(source)}-kill-${Date.now()}`, args: [{ source, rangeRows: 10_000, parallel: 1 }] });
      const atKill = await waitFor(() => handle.query(resyncProgressQuery), (p) => p.rangesDone >= 3, 'three ranges loaded', 120_000, 250);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      child = spawnWorker();
      const result = (await handle.result()) as ResyncTableResult;
      expect(result.validation?.outcome, result.validation?.summary).toBe('agree');
      // Each finished range was scheduled once; only the one in flight at the kill ran again.
      const history = await handle.fetchHistory();
      const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'loadResyncRange').length;
      expect(scheduled).toBe(result.ranges);
      const attempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1).length;
      console.log(`[resync] killed after ${atKill.rangesDone}/${atKill.ranges} ranges; ${attempts} retried attempt(s); ${JSON.stringify(result)}`);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
