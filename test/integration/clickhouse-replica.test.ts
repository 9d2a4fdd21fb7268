/**
 * Two ClickHouse hosts of one replica set on the test stack: the stack's
 * `clickhouse` (ch1) and `clickhouse2` (ch2, started by this test only), each
 * consuming every topic in its own consumer groups. While a writer commits
 * changes (each with a unique id) to a captured table, each host in turn is
 * killed with SIGKILL: the other serves `ch` and validation meanwhile
 * (reads fail over from the primary, ch1; the monitor says which replica is
 * down and which it reads); the killed one is brought back and
 * catches up. Afterwards, on both hosts: every committed change in the
 * deduplicated change log exactly once (0 lost, 0 visible twice); a column
 * added in Postgres reaches both (the schema-change activity applies it on
 * each host); `validate --replica` agrees for each.
 *
 * Then, with the writer running again, a resync of the table (a key planted
 * on both hosts that Postgres never had: a drift only a reload repairs)
 * reloads both hosts: each swaps its own copy, the drift is gone from both,
 * every committed change is there exactly once on both, and `validate
 * --replica` agrees for each.
 *
 * clickhouse2 exists only during this test: a new host's groups have no
 * offsets, so it reads every topic from the earliest offset Kafka holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedTables, deriveOptions, type CapturedTable } from '../../catalog/derive.ts';
import { replicaEndpoints } from '../../config/clickhouse-replicas.ts';
import { createClickHouse } from '../../connectors/clickhouse/client.ts';
import { clickhouse2 } from '../../stack/components/clickhouse.ts';
import { componentsFor } from '../../stack/components/index.ts';
import { createContext } from '../../stack/lib/context.ts';
import { StackManager } from '../../stack/lib/manager.ts';
import { parseConfig } from '../../config/load.ts';
import { startMonitor, type Monitor } from '../../monitor/service.ts';
import { changeEvents, shownUpTo, windowFigures } from './fault-accounting.ts';
import { FaultWriter } from './fault-writer.ts';
import { MockActivityEnvironment } from '@temporalio/testing';
import { resyncWorkflowId } from '../../shared/workflows.ts';
import type { ResyncTableResult } from '../../workflows/resync-table.ts';
import { createSchemaChangeActivities, type AppliedChange, type PendingChange } from '../../activities/schema-changes.ts';
import { captureTable, chRows, testKafka, clickhouse, dropCapturedTable, postgres, runCommand, startPipelineTestWorker, testEndpoints, uniqueTag, waitFor, type TestWorker } from './helpers.ts';

const tag = uniqueTag('chrep').replace(/[^a-z0-9_]/g, '_');
const source = `public.${tag}`;
const taskQueue = `replica-${tag}`;
const manager = new StackManager(createContext('test', () => undefined), componentsFor('test'));
const replicaUrl = `http://127.0.0.1:${manager.ctx.ports.clickhouseReplicaHttp}`;
const hosts = [
  { component: 'clickhouse', replica: 'ch1' },
  { component: 'clickhouse2', replica: 'ch2' },
] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pool: pg.Pool;
let ch1: ClickHouseClient;
let ch2: ClickHouseClient;
let worker: TestWorker | undefined;
let monitor: Monitor | undefined;
/** The test table on each host and its writer: the first test makes them, the resync test goes on with them. */
let t: Record<'ch1' | 'ch2', CapturedTable>;
let writer: FaultWriter;
const savedReplicaUrls = process.env.CLICKHOUSE_REPLICA_URLS;

/** The test table as each replica derives it (the same objects; its own consumer group). */
async function tableOn(replica: 'ch1' | 'ch2'): Promise<CapturedTable> {
  const e = testEndpoints();
  const r = e.clickhouseReplicas.find((x) => x.name === replica)!;
  return (await capturedTables(pool, deriveOptions(replicaEndpoints(e, r)), () => undefined)).find((t) => t.declaration.source === source)!;
}

const chRowsOf = (c: ClickHouseClient, q: string) => chRows<{ note: string | null }>(c, q);
const client = (replica: 'ch1' | 'ch2') => (replica === 'ch1' ? ch1 : ch2);

/** Until a replica shows every change committed up to `lastId`. */
async function caughtUp(replica: 'ch1' | 'ch2', lastId: number): Promise<void> {
  await waitFor(() => shownUpTo(client(replica), writer, t[replica], lastId), (x) => x.have === x.want, `${replica} to show every change up to id ${lastId}`, 120_000, 500);
}

/** The writer's events in a host's deduplicated change log: (change_id, op) -> rows, without the reload's own history rows at L and the row written with id 0. */
async function writerEvents(replica: 'ch1' | 'ch2', lsnFloor: string): Promise<Map<string, number>> {
  const q = `SELECT concat(toString(change_id), ':', toString(op)) AS e, count() AS n FROM ${t[replica].objects.names.changes} FINAL WHERE lsn != ${lsnFloor} AND change_id != 0 GROUP BY e`;
  return new Map((await chRows<{ e: string; n: string }>(client(replica), q)).map((r) => [r.e, Number(r.n)]));
}

/** A CLI of the repository with the replica set configured. */
const cli = (file: string, args: string[]) => runCommand(process.execPath, ['--import', 'tsx', path.join('cli', file), ...args], { CLICKHOUSE_REPLICA_URLS: replicaUrl, TASK_QUEUE: taskQueue });

describe('a second ClickHouse host: a replica set for reads', () => {
  beforeAll(async () => {
    pool = postgres();
    ch1 = clickhouse();
    ch2 = createClickHouse(replicaUrl, { requestTimeoutMs: 60_000 });
    await manager.up([clickhouse2.name], { withDbt: false });
    process.env.CLICKHOUSE_REPLICA_URLS = replicaUrl;
    worker = await startPipelineTestWorker(taskQueue, pool, ch1);
    monitor = await startMonitor(parseConfig({ ...process.env, MONITOR_PORT: '0', MONITOR_INTERVAL: '2s', MONITOR_INSTANCE: tag }), () => undefined);
  });

  afterAll(async () => {
    await monitor?.stop().catch(() => undefined);
    await worker?.stop().catch(() => undefined);
    for (const h of hosts) await manager.up([h.component]).catch(() => undefined);
    await dropCapturedTable(pool, ch1, source);
    await manager.down([clickhouse2.name]).catch(() => undefined);
    fs.rmSync(path.join(manager.ctx.stateDir, clickhouse2.name), { recursive: true, force: true });
    if (savedReplicaUrls === undefined) delete process.env.CLICKHOUSE_REPLICA_URLS;
    else process.env.CLICKHOUSE_REPLICA_URLS = savedReplicaUrls;
    await ch2.close();
    await ch1.close();
    await pool.end();
  });

  it('SIGKILL of either host: the other serves ch and validation; afterwards 0 lost, 0 visible twice on both', { timeout: 300_000 }, async () => {
    const t0 = Date.now();
    await pool.query(`create table ${source} (id text primary key, change_id bigint not null, writes integer not null)`);
    // Setup applies the table's objects on both hosts (and every other captured table's on the new one).
    await captureTable({ source, description: 'Replica-set writer table.' });
    t = { ch1: await tableOn('ch1'), ch2: await tableOn('ch2') };
    expect(t.ch2.objects.names.group).toBe(`${testEndpoints().groupPrefix}-ch2-${t.ch1.objects.names.base.replaceAll('_', '-')}`);
    expect(t.ch1.objects.names.group).toBe(tableNameGroup(t.ch1));
    writer = new FaultWriter(pool, source, `${tag}_`, { keys: 200, astronautEvery: Number.MAX_SAFE_INTEGER, pauseMs: 30 });
    writer.start();
    await sleep(2000);

    const rows: { killed: string; firstId: number; lastId: number; servedBy: string; validation: string; catchUpS: string }[] = [];
    for (const victim of hosts) {
      const other = hosts.find((h) => h !== victim)!;
      const firstId = writer.lastId + 1;
      await sleep(1500);
      expect(await manager.kill(victim.component), `${victim.component} was running`).toBeDefined();
      await sleep(1500); // the writer goes on while the host is down

      // ch reads from the primary (ch1) or, when it is down, from ch2.
      const read = await cli('ch.ts', ['-d', 'astros', `SELECT uniqExact(change_id) FROM ${t.ch1.objects.names.changes}`]);
      expect(read.code, read.text).toBe(0);
      if (victim.replica === 'ch1') expect(read.text).toContain('not answering: reading from ch2');
      expect(Number(read.text.trim().split('\n').at(-1))).toBeGreaterThan(0);

      // The monitor reads from the replica that answers and says which one is down, per replica.
      await waitFor(async () => monitor!.latest()?.replicas, (r) => r?.find((x) => x.replica === victim.replica)?.up === false && r.find((x) => x.replica === other.replica)?.reads === true, `the monitor to read from ${other.replica}`, 30_000, 500);
      expect(monitor!.latest()!.components.clickhouse, 'ClickHouse answers through the other replica').toBe(true);
      const metrics = await fetch(`${monitor!.url}/metrics`).then((r) => r.text());
      expect(metrics).toContain(`astros_clickhouse_replica_up{replica="${victim.replica}"} 0`);
      expect(metrics).toContain(`astros_clickhouse_replica_reads{replica="${other.replica}"} 1`);

      // Validation (the writer paused: a quiet table at one LSN) goes to the replica that answers.
      await writer.stop();
      await caughtUp(other.replica, writer.lastId);
      const v = await cli('validate.ts', ['--table', source, '--buckets', '64']);
      expect(v.code, v.text).toBe(0);
      expect(v.text).toContain(`on ${other.replica}`);
      writer.start();

      await manager.up([victim.component]);
      const backAt = Date.now();
      const lastId = writer.lastId;
      await caughtUp(victim.replica, lastId);
      rows.push({ killed: victim.replica, firstId, lastId, servedBy: other.replica, validation: 'agree', catchUpS: ((Date.now() - backAt) / 1000).toFixed(1) });
    }
    await sleep(1000);
    await writer.stop();

    // On both hosts: every committed change exactly once in the deduplicated change log.
    const figures: Record<string, unknown>[] = [];
    for (const h of hosts) {
      await caughtUp(h.replica, writer.lastId);
      const record = await changeEvents(client(h.replica), t[h.replica], 'record');
      const changes = await changeEvents(client(h.replica), t[h.replica], 'changes');
      for (const r of rows) figures.push({ host: h.replica, 'while killed': r.killed, ...windowFigures(writer, r.firstId, r.lastId, record, changes) });
      const all = writer.committed.flatMap(FaultWriter.events);
      expect(all.filter((e) => changes.get(e) !== 1), `${h.replica}: lost or visible twice`).toEqual([]);
      expect(changes.size, `${h.replica}: nothing else`).toBe(all.length);
    }
    // A schema change reaches both hosts: a nullable column added (nothing to reload), then a row carrying it.
    await pool.query(`alter table ${source} add column note text`);
    const acts = createSchemaChangeActivities({ pool, clickhouse: ch1, kafka: testKafka(), endpoints: testEndpoints() });
    const activity = new MockActivityEnvironment();
    const pending = await waitFor((): Promise<PendingChange[]> => activity.run(acts.pendingSchemaChanges, { tables: [source] }), (p) => p.length > 0, 'the ADD COLUMN in the DDL log', 30_000, 500);
    const steps: string[] = [];
    for (const p of pending) {
      // The first applies the table's whole batch; the others are then already applied.
      const applied: AppliedChange = await activity.run(acts.applySchemaChange, { id: p.id });
      expect(applied.status, applied.message).toBe('applied');
      steps.push(...applied.steps);
    }
    console.log(`schema change: ${steps.join('; ')}`);
    expect(steps.some((x) => x.startsWith('ch2: add column note')), steps.join('; ')).toBe(true);
    await pool.query(`insert into ${source} (id, change_id, writes, note) values ('with-note', 0, 1, 'replicated')`);
    for (const h of hosts) {
      const current = `${t[h.replica].objects.names.current}`;
      await waitFor(() => chRowsOf(client(h.replica), `SELECT note FROM ${current} FINAL WHERE id = 'with-note'`), (r) => r[0]?.note === 'replicated', `${h.replica} to show the new column's value`, 60_000, 500);
    }
    // validate --replica agrees for each (the new column compared too).
    for (const h of hosts) {
      const v = await cli('validate.ts', ['--table', source, '--buckets', '64', '--replica', h.replica]);
      expect(v.code, v.text).toBe(0);
      expect(v.text).toMatch(new RegExp(`on ${h.replica} at LSN .*: agree`));
      console.log(`validate --replica ${h.replica}: ${v.text.trim().split('\n').at(-1)}`);
    }
    console.log(`replica set (${writer.committed.length} changes committed, ${writer.inDoubt} in doubt):`);
    console.table(rows);
    console.table(figures);
    for (const f of figures) expect({ lost: f.lost, twice: f['visible twice'] }).toEqual({ lost: 0, twice: 0 });
    console.log(`replica test took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });

  it('a resync under a running writer reloads both hosts: validate --replica agrees for each, 0 lost, 0 visible twice', { timeout: 240_000 }, async () => {
    expect(t, 'the first test made the table').toBeDefined();
    const t0 = Date.now();
    // A drift on both hosts that only a reload repairs: a key Postgres never had.
    for (const h of hosts) {
      const current = t[h.replica].objects.names.current;
      await client(h.replica).command({ query: `INSERT INTO ${current} SELECT * REPLACE ('ghost' AS id, 0 AS change_id, 1 AS version) FROM ${current} FINAL WHERE is_deleted = 0 LIMIT 1` });
      const v = await cli('validate.ts', ['--table', source, '--buckets', '64', '--replica', h.replica]);
      expect(v.code, `${h.replica} shows the drift: ${v.text}`).not.toBe(0);
    }
    writer.start();
    await sleep(1500);
    const firstId = writer.lastId + 1;
    const result: ResyncTableResult = await worker!.client.workflow.execute('resyncTable', { taskQueue, workflowId: `${resyncWorkflowId(source)}-${Date.now()}`, args: [{ source }] });
    const lastId = writer.lastId;
    await sleep(1000);
    await writer.stop();
    console.log(`resync under the writer: ${JSON.stringify(result)}`);
    expect(result.deletedRows, 'the ghost key deleted (ch1 figures)').toBe(1);

    // On both hosts: every committed change exactly once in the deduplicated change log, the ghost gone.
    const figures: Record<string, unknown>[] = [];
    for (const h of hosts) {
      await caughtUp(h.replica, writer.lastId);
      const changes = await writerEvents(h.replica, result.lsnFloor);
      const record = await changeEvents(client(h.replica), t[h.replica], 'record');
      figures.push({ host: h.replica, 'ids during the resync': `${firstId}..${lastId}`, ...windowFigures(writer, firstId, lastId, record, changes) });
      const all = writer.committed.flatMap(FaultWriter.events);
      expect(all.filter((e) => changes.get(e) !== 1), `${h.replica}: lost or visible twice`).toEqual([]);
      expect(changes.size, `${h.replica}: nothing else`).toBe(all.length);
      const [ghost] = await chRows<{ n: string }>(client(h.replica), `SELECT count() AS n FROM ${t[h.replica].objects.names.current} FINAL WHERE id = 'ghost' AND is_deleted = 0`);
      expect(Number(ghost?.n), `${h.replica}: the ghost key is gone`).toBe(0);
    }
    // validate --replica agrees for each: the reload reached both hosts.
    for (const h of hosts) {
      const v = await cli('validate.ts', ['--table', source, '--buckets', '64', '--replica', h.replica]);
      expect(v.code, v.text).toBe(0);
      expect(v.text).toMatch(new RegExp(`on ${h.replica} at LSN .*: agree`));
      console.log(`after the resync, validate --replica ${h.replica}: ${v.text.trim().split('\n').at(-1)}`);
    }
    console.table(figures);
    for (const f of figures) expect({ lost: f.lost, twice: f['visible twice'] }).toEqual({ lost: 0, twice: 0 });
    console.log(`replica resync test took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });
});

/** ch1 keeps the pipeline's consumer group names (a one-host stack adopts the set with nothing read again). */
function tableNameGroup(t: CapturedTable): string {
  return `${testEndpoints().groupPrefix}-${t.objects.names.base.replaceAll('_', '-')}`;
}
