/**
 * Losing a host of the cluster mid-stream. While the fault suite's writer
 * commits changes with unique ids to a captured table (3 partitions, RF 3,
 * min ISR 2), one host at a time is lost and brought back:
 *
 *   broker SIGKILL         the leader of partition 0: leaders move to the other two, the
 *                          source producer (acks=all) and ClickHouse's consumers go on
 *   Connect worker SIGKILL the worker running the connector's task: the task moves to the other
 *   broker cut off         the coordinator of ClickHouse's consumer group, its link down for CUT_S, then up
 *   Connect worker cut off the worker running the task, its link down for CUT_S, then up
 *   worker SIGKILL         a pipeline worker running a resync range: the other takes the range
 *
 * Each fault ends with the victim back (`up`, or its link up) and the cluster
 * whole (every host healthy, every replica in sync), then the writer pauses
 * while ClickHouse catches up and validation must agree. Prints one row per
 * fault: changes committed, lost (0), visible twice in <t>_changes FINAL (0),
 * delivered twice (absorbed), the longest stall (no new change visible) and
 * the catch-up after the victim came back.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import type { ResyncTableResult } from '../../workflows/resync-table.ts';
import { capturedTables, deriveOptions, type CapturedTable } from '../../catalog/derive.ts';
import { validationSpec } from '../../catalog/validation-spec.ts';
import { parseConfig } from '../../config/load.ts';
import { RESYNC_WORKFLOW_TYPE, resyncWorkflowId } from '../../shared/workflows.ts';
import { changeEvents, shownUpTo, windowFigures } from '../integration/fault-accounting.ts';
import { metricValue, startAlertMonitor } from '../integration/alert-monitor.ts';
import { FaultWriter } from '../integration/fault-writer.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, postgres, testEndpoints, testKafka, uniqueTag, waitFor } from '../integration/helpers.ts';
import { brokerGoneAt, brokerUpInFirstSampleAfter, connectorStatus, coordinatorHost, cutHost, hostNamed, leaderHost, restartFailedTask, restoreHost, stallMeter, taskHost, waitWhole } from './cluster-faults.ts';
import { clusterManager } from './cluster-stack.ts';
import { createContext } from '../../stack/lib/context.ts';

const tag = uniqueTag('cfaults').replace(/[^a-z0-9_]/g, '_');
const source = `public.${tag}`;
const bulk = `public.${tag}_bulk`;
const prefix = `${tag}_`;
/** How long a host stays cut off: well past Kafka's broker session (9 s), Connect's group session (10 s) and the ClickHouse consumers' timeouts (10 s), so all act on it. */
const CUT_S = 30;
const BULK_ROWS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pool: pg.Pool;
let ch: ClickHouseClient;
let temporal: Client;
const manager = clusterManager();

interface Row {
  fault: string;
  victim: string;
  firstId: number;
  lastId: number;
  stallS: number;
  catchUpS: number;
  taskRestarts: number;
  note: string;
}

async function table(src: string): Promise<CapturedTable> {
  return (await capturedTables(pool, deriveOptions(testEndpoints()))).find((t) => t.declaration.source === src)!;
}

const highestShown = (t: CapturedTable) => async () => Number((await chRows<{ m: string }>(ch, `SELECT max(change_id) AS m FROM ${t.objects.names.changes}`))[0]?.m ?? 0);

/** Wait until ClickHouse shows every change committed up to `lastId`, restarting a failed task on the way; the restarts. */
async function catchUp(writer: FaultWriter, t: CapturedTable, lastId: number, what: string): Promise<number> {
  let restarts = 0;
  await waitFor(
    async () => {
      restarts += await restartFailedTask();
      return shownUpTo(ch, writer, t, lastId);
    },
    (x) => x.have === x.want,
    `ClickHouse to show every change up to id ${lastId} (${what})`,
    240_000,
    500,
  );
  return restarts;
}

/** Changes committed after this moment are visible: the pipeline runs on without the victim. */
async function flowsOn(writer: FaultWriter, t: CapturedTable, what: string): Promise<void> {
  const from = writer.lastId;
  await waitFor(highestShown(t), (h) => h > from, `a change committed after ${what} to be visible`, 240_000, 500);
}

async function agrees(t: CapturedTable): Promise<void> {
  const acts = createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() });
  const report: ValidationReport = await new MockActivityEnvironment().run(acts.compareTable, { spec: { ...validationSpec(t.declaration, t.source, t.objects.names), buckets: 16 }, reportKey: `${tag}-${Date.now()}` });
  expect(report.outcome, report.summary).toBe('agree');
}

/**
 * The pipeline worker host whose process runs a started loadResyncRange of the run, by the identity
 * (pid@host) Temporal recorded; `workers`: each worker's pid and host, read once (a status of the
 * whole cluster takes longer than a range).
 */
async function rangeWorker(workflowId: string, workers: Map<number, string>): Promise<string | undefined> {
  const d = await temporal.workflow.getHandle(workflowId).describe();
  const pending = (d.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'loadResyncRange' && a.lastWorkerIdentity);
  return workers.get(Number(pending?.lastWorkerIdentity?.split('@')[0]));
}

describe('the cluster loses a host mid-stream', () => {
  beforeAll(async () => {
    pool = postgres();
    pool.on('error', () => undefined);
    ch = clickhouse();
    temporal = new Client({ connection: await Connection.connect({ address: parseConfig(process.env).temporal.address }) });
    await pool.query(`create table ${source} (id text primary key, change_id bigint not null, writes integer not null)`);
    await pool.query(`create table ${bulk} (id bigint primary key, name text not null, n integer not null)`);
    await pool.query(`insert into ${bulk} select g, 'row ' || g, g % 1000 from generate_series(1, ${BULK_ROWS}) g`);
    await pool.query(`analyze ${bulk}`);
    await captureTable({ source, description: 'Cluster fault writer table.' });
    await captureTable({ source: bulk, description: 'Cluster fault resync table.' });
  }, 300_000);

  afterAll(async () => {
    for (const s of [source, bulk]) await dropCapturedTable(pool, ch, s).catch(() => undefined);
    await pool.query(`delete from public.astronauts where starts_with(person_key, $1)`, [prefix]).catch(() => undefined);
    await temporal?.connection.close().catch(() => undefined);
    await ch?.close();
    await pool?.end();
  });

  it('loses nothing and shows nothing twice through every fault; validation agrees after each', { timeout: 1_200_000 }, async () => {
    const t = await table(source);
    const topics = [t.objects.names.topic];
    const writer = new FaultWriter(pool, source, prefix, { keys: 300, astronautEvery: 4, pauseMs: 40 });
    writer.start();
    await flowsOn(writer, t, 'the writer started');

    const killAndBack = async (victim: string, meanwhile: () => Promise<string>) => {
      expect(await manager.kill(victim), `${victim} was running`).toBeDefined();
      const note = await meanwhile();
      await manager.up([victim]);
      return note;
    };
    const cutAndBack = async (victim: string, meanwhile: () => Promise<string> = async () => '') => {
      const at = Date.now();
      cutHost(hostNamed(victim));
      let note: string;
      try {
        note = await meanwhile();
        await sleep(Math.max(0, at + CUT_S * 1000 - Date.now())); // the cut's length is the scenario, not a wait for a state
      } finally {
        restoreHost(hostNamed(victim));
      }
      return note;
    };
    const since = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

    const faults: { fault: string; victim: () => Promise<string>; run: (victim: string) => Promise<string> }[] = [
      {
        fault: 'broker SIGKILL',
        victim: async () => (await leaderHost(t.objects.names.topic, 0)).host,
        // The monitor watches this one: what an operator sees of a lost broker, and its alert once, then its recovery.
        run: async (v) => {
          const watch = await startAlertMonitor(tag, ch, '2s');
          const address = `${hostNamed(v).address}:${createContext('cluster').ports.kafka}`;
          const broker = `{broker="${address}"}`;
          const alerts = (state: string) => watch.received.filter((x) => x.startsWith(`[${state}] kafka_broker_down`));
          try {
            await waitFor(watch.metrics, (m) => metricValue(m, `astros_kafka_broker_up${broker}`) === 1, `the monitor to see ${v} up`, 60_000, 500);
            const note = await killAndBack(v, async () => {
              const t0 = Date.now();
              const gone = brokerGoneAt(address);
              await flowsOn(writer, t, `${v} died`);
              const flowing = since(t0);
              const m = await waitFor(watch.metrics, (x) => metricValue(x, `astros_kafka_broker_up${broker}`) === 0, `the monitor to see ${v} down`, 60_000, 500);
              const seen = since(t0);
              // Within one sample: the first sample the monitor took once the metadata lacked the broker shows it down.
              const goneAt = await gone;
              const first = await waitFor(() => brokerUpInFirstSampleAfter(ch, tag, address, goneAt), (x) => x !== undefined, 'a monitor sample after the broker left the metadata', 30_000, 500);
              expect(first, `astros_kafka_broker_up${broker} in the first sample after the metadata lost it`).toBe(0);
              expect(metricValue(m, 'astros_kafka_brokers_down')).toBe(1);
              expect(metricValue(m, `astros_kafka_under_replicated_partitions{topic="${t.objects.names.topic}"}`)).toBeGreaterThan(0);
              await waitFor(watch.page, (html) => html.includes('data-broker-down') && html.includes(hostNamed(v).address), `the page to show ${v} down`, 30_000, 500);
              await waitFor(async () => alerts('FIRING').length, (n) => n === 1, 'the broker-down alert on the webhook', 30_000, 300);
              return `flowing again ${flowing} s after the kill; out of the metadata at ${((goneAt - t0) / 1000).toFixed(1)} s, down in the monitor's next sample (seen at ${seen} s); alert fired`;
            });
            await waitFor(async () => alerts('RESOLVED').length, (n) => n === 1, 'the broker-down recovery on the webhook', 120_000, 500);
            expect(alerts('FIRING')).toHaveLength(1);
            return `${note}, resolved`;
          } finally {
            await watch.stop();
          }
        },
      },
      {
        fault: 'Connect worker SIGKILL',
        victim: async () => taskHost(await connectorStatus())!.host,
        run: (v) => killAndBack(v, async () => {
          const t0 = Date.now();
          const moved = await waitFor(async () => taskHost(await connectorStatus(hostNamed(v)))?.host, (h) => h !== undefined && h !== v, `the task to move off ${v}`, 240_000, 500);
          const movedS = since(t0);
          await flowsOn(writer, t, `the task moved to ${moved}`);
          return `task on ${moved} after ${movedS} s`;
        }),
      },
      {
        fault: `broker cut ${CUT_S} s`,
        // The coordinator of ClickHouse's consumer group: the worst broker to lose for the consumers, who must find another.
        victim: async () => (await coordinatorHost(t.objects.names.group)).host,
        run: (v) => cutAndBack(v, async () => {
          const t0 = Date.now();
          await flowsOn(writer, t, `${v} was cut off`);
          return `flowing again ${since(t0)} s into the cut`;
        }),
      },
      {
        fault: `Connect worker cut ${CUT_S} s`,
        victim: async () => taskHost(await connectorStatus())!.host,
        run: (v) => cutAndBack(v),
      },
      {
        fault: 'worker SIGKILL in a resync',
        victim: async () => '',
        run: async () => {
          // One range of the whole table: with several, consecutive ranges go to either worker, and the worker
          // seen running one may already be idle when killed. A range takes a second or more; a kill that
          // still misses it (the resync ended first) runs the resync again.
          for (let attempt = 1; ; attempt++) {
            const workers = new Map((await manager.status()).filter((r) => r.name.startsWith('worker') && r.pid).map((r) => [r.pid!, r.name]));
            const id = `${resyncWorkflowId(bulk)}-${Date.now()}`;
            const handle = await temporal.workflow.start(RESYNC_WORKFLOW_TYPE, { taskQueue: parseConfig(process.env).temporal.taskQueue, workflowId: id, args: [{ source: bulk, rangeRows: BULK_ROWS, parallel: 1 }] });
            const running = async () => (await rangeWorker(id, workers)) ?? ((await handle.describe()).status.name === 'RUNNING' ? undefined : '');
            const victim = await waitFor(running, (w) => w !== undefined, 'a worker to run a resync range', 240_000, 50);
            if (victim) expect(await manager.kill(victim)).toBeDefined();
            const result = (await handle.result()) as ResyncTableResult;
            expect(result.validation?.outcome, result.validation?.summary).toBe('agree');
            if (victim) await manager.up([victim]);
            const history = await handle.fetchHistory();
            const retried = (history.events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length;
            if (retried > 0) return `${victim}: ${result.ranges} ranges, ${retried} attempt(s) run again by the other worker (resync ${attempt})`;
            expect(attempt, 'a kill that landed in a running range, which the other worker ran again').toBeLessThan(5);
          }
        },
      },
    ];

    const rows: Row[] = [];
    for (const [i, f] of faults.entries()) {
      await waitWhole(topics);
      const victim = await f.victim();
      // Contiguous windows: what was committed since the previous fault's window counts in this one.
      const firstId = (rows.at(-1)?.lastId ?? 0) + 1;
      const meter = stallMeter(highestShown(t));
      const note = await f.run(victim);
      const backAt = Date.now();
      const taskRestarts = await catchUp(writer, t, writer.lastId, `after ${f.fault}`);
      const catchUpS = (Date.now() - backAt) / 1000;
      const stallS = await meter.stop();
      // A whole cluster again, the writer paused, and the copy agrees with Postgres.
      await waitWhole(topics);
      await writer.stop();
      await catchUp(writer, t, writer.lastId, `the writer paused after ${f.fault}`);
      await agrees(t);
      rows.push({ fault: f.fault, victim: victim || note.split(':')[0]!, firstId, lastId: writer.lastId, stallS, catchUpS, taskRestarts, note });
      // Said at once, so a run that fails later still shows the faults it went through.
      console.log(`[cluster-faults] done: ${f.fault} (${rows.at(-1)!.victim}) stall ${stallS.toFixed(1)} s, catch-up ${catchUpS.toFixed(1)} s, task restarts ${taskRestarts}; ${note}`);
      if (i < faults.length - 1) writer.start();
    }

    const record = await changeEvents(ch, t, 'record');
    const changes = await changeEvents(ch, t, 'changes');
    const figures = rows.map((r) => ({
      fault: r.fault,
      victim: r.victim,
      ...windowFigures(writer, r.firstId, r.lastId, record, changes),
      'stall s': r.stallS.toFixed(1),
      'catch-up s': r.catchUpS.toFixed(1),
      'task restarts': r.taskRestarts,
      note: r.note,
    }));
    console.log(`cluster faults (${writer.committed.length} changes committed, ${writer.inDoubt} in doubt and read back):`);
    console.table(figures);
    for (const f of figures) console.log(`[cluster-faults] ${f.fault.padEnd(28)} committed ${f.committed}  lost ${f.lost}  visible twice ${f['visible twice']}  delivered twice ${f['delivered twice (absorbed)']}  stall ${f['stall s']} s  catch-up ${f['catch-up s']} s  (${f.note})`);
    for (const f of figures) expect({ fault: f.fault, lost: f.lost, twice: f['visible twice'] }).toEqual({ fault: f.fault, lost: 0, twice: 0 });
    const all = writer.committed.flatMap(FaultWriter.events);
    expect(all.filter((e) => changes.get(e) !== 1)).toEqual([]);
    expect(changes.size).toBe(all.length);
  });
});
