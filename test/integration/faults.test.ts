/**
 * Crashes mid-stream. While a writer commits changes continuously (each with
 * a unique id) to a table captured through the catalog, and to
 * public.astronauts under this test's key prefix, each component is killed in
 * turn with SIGKILL (by the pid its pidfile records; the test's own worker by
 * the pid of the child it spawned) and brought back. Afterwards: validation
 * agrees, every committed change is in the deduplicated change log exactly
 * once, and the SCD2 mart is exactly what the committed astronaut changes
 * give. Then a deliberate replay (both consumer groups rewound by 10,000
 * messages) leaves every documented read unchanged.
 *
 * Prints one row per component: changes committed while it was down and
 * catching up, lost (0), visible twice (0), messages delivered more than once
 * (absorbed by the change log), time until it answered again, time to catch up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import { capturedTables, deriveOptions, reconcileClickHouse, type CapturedTable } from '../../catalog/derive.ts';
import { tableNames } from '../../shared/names.ts';
import { validationSpec } from '../../catalog/validation-spec.ts';
import { componentsFor } from '../../stack/components/index.ts';
import { createContext } from '../../stack/lib/context.ts';
import { StackManager } from '../../stack/lib/manager.ts';
import { VALIDATE_WORKFLOW_TYPE } from '../../shared/workflows.ts';
import { changeEvents, shownUpTo, windowFigures } from './fault-accounting.ts';
import { FaultWriter } from './fault-writer.ts';
import { captureTable, chRows, clickhouse, postgres, releaseTable, repoRoot, requireEnv, runCommand, testEndpoints, uniqueTag, waitFor, testKafka } from './helpers.ts';

const tag = uniqueTag('faults').replace(/[^a-z0-9_]/g, '_');
const source = `public.${tag}`;
const prefix = `${tag}_`;
const taskQueue = `faults-${tag}`;
const REWIND = 10_000;
const stackComponents = ['connect', 'kafka', 'clickhouse', 'postgres', 'registry', 'temporal'] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pool: pg.Pool;
let ch: ClickHouseClient;
let temporal: Client;
let worker: ChildProcess | undefined;
const kafka = new Kafka({ clientId: `faults-${tag}`, brokers: requireEnv('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING });
const manager = new StackManager(createContext('test', () => undefined), componentsFor('test'));

interface PhaseRow {
  component: string;
  firstId: number;
  lastId: number;
  outageS: number;
  catchUpS: number;
  taskRestarts: number;
  workerRestarts: number;
}

async function tables(): Promise<{ faults: CapturedTable; astronauts: CapturedTable }> {
  const all = await capturedTables(pool, deriveOptions(testEndpoints()));
  return { faults: all.find((t) => t.declaration.source === source)!, astronauts: all.find((t) => t.declaration.source === 'public.astronauts')! };
}

/** The test's worker, supervised: if it exits on its own (e.g. it gave up on an unreachable Temporal) it is started again and counted. */
const supervisor = { restarts: 0, stopping: false };

function startWorker(): void {
  const log = fs.openSync(path.join(repoRoot, '.stack', 'faults-worker.log'), 'a'); // the worker's output, for a failed run
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/worker.ts'], {
    cwd: repoRoot,
    env: { ...process.env, TASK_QUEUE: taskQueue, ASTROS_MIGRATE_ON_START: 'false', LOG_LEVEL: 'WARN' },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.once('exit', () => {
    if (supervisor.stopping || worker !== child) return;
    supervisor.restarts++;
    startWorker();
  });
  worker = child;
}

async function killWorker(): Promise<void> {
  const w = worker!;
  worker = undefined; // not restarted by the supervisor
  if (w.exitCode !== null || w.signalCode !== null) return;
  const exited = new Promise((r) => w.once('exit', r));
  w.kill('SIGKILL'); // the pid of the child this test spawned
  await exited;
}

/** A failed Debezium task is restarted through Connect's REST API (counted: the table shows whether it was needed). */
async function restartFailedTasks(): Promise<number> {
  const url = `${requireEnv('CONNECT_URL')}/connectors/astros-postgres`;
  const res = await fetch(`${url}/status`).catch(() => undefined);
  if (!res?.ok) return 0;
  const s = (await res.json()) as { connector: { state: string }; tasks: { state: string }[] };
  if (s.connector.state !== 'FAILED' && !s.tasks.some((t) => t.state === 'FAILED')) return 0;
  await fetch(`${url}/restart?includeTasks=true&onlyFailed=true`, { method: 'POST' }).catch(() => undefined);
  return 1;
}

const events = (t: CapturedTable, from: 'record' | 'changes') => changeEvents(ch, t, from);

/** Wait until ClickHouse shows every change committed up to `lastId`; restart a failed connector task on the way. */
async function catchUp(writer: FaultWriter, t: CapturedTable, lastId: number, phase: string): Promise<number> {
  let restarts = 0;
  try {
    await waitFor(
      async () => {
        restarts += await restartFailedTasks();
        return shownUpTo(ch, writer, t, lastId);
      },
      (x) => x.have === x.want,
      `ClickHouse to show every change up to id ${lastId}`,
      180_000,
      500,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await whereTheyWent(writer, t, lastId, phase)}`, { cause: err });
  }
  return restarts;
}

/** For a failed catch-up: which committed changes are missing, and what Postgres, the topic's record and kafka_errors hold of them. */
async function whereTheyWent(writer: FaultWriter, t: CapturedTable, lastId: number, phase: string): Promise<string> {
  const seen = new Set((await chRows<{ id: string }>(ch, `SELECT DISTINCT toString(change_id) AS id FROM ${t.objects.names.changes} WHERE change_id <= {m:UInt64}`, { m: lastId })).map((r) => Number(r.id)));
  const missing = writer.committed.filter((c) => c.id <= lastId && !seen.has(c.id)).slice(0, 10);
  const ids = missing.map((c) => c.id);
  const inRecord = await chRows(ch, `SELECT change_id, op, lsn, kafka_partition, kafka_offset FROM ${t.objects.names.changelog} WHERE change_id IN {ids:Array(UInt64)}`, { ids });
  const errors = await chRows(ch, `SELECT offset, error, length(raw_message) AS bytes FROM ${t.objects.names.errors} WHERE topic = {topic:String} ORDER BY offset DESC LIMIT 5`, { topic: t.objects.names.topic });
  const inPostgres = (await pool.query(`select id, change_id from ${source} where change_id = any($1::bigint[])`, [ids]).catch((e: Error) => ({ rows: [e.message] }))).rows;
  const status = await fetch(`${requireEnv('CONNECT_URL')}/connectors/astros-postgres/status`).then((r) => r.text()).catch((e: Error) => e.message);
  return JSON.stringify({ phase, missing, inRecord, inPostgres, errors, connect: status, inDoubt: writer.inDoubt }, null, 1);
}

async function validate(spec: ReturnType<typeof validationSpec>): Promise<ValidationReport> {
  const acts = createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() });
  return new MockActivityEnvironment().run(acts.compareTable, { spec: { ...spec, buckets: 64 }, reportKey: `faults-${tag}-${Date.now()}` });
}

/** validatePipeline's report; asked again while Temporal is unreachable, a failed run named with its cause. */
async function workflowResult(workflowId: string): Promise<ValidationReport> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    try {
      return (await temporal.workflow.getHandle(workflowId).result()) as ValidationReport;
    } catch (err) {
      if (err instanceof WorkflowFailedError) throw new Error(`${workflowId} failed: ${String(err.cause)} / ${String(err.cause?.cause)}`, { cause: err });
      if (Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
}

async function dbt(args: string[]): Promise<void> {
  const vars = JSON.stringify({ person_key_prefix: prefix, as_of_date: '2030-01-01' });
  const { code, text } = await runCommand('bash', [path.join('scripts', 'dbt.sh'), ...args, '--vars', vars], {
    DBT_USE_COLORS: 'false',
    DBT_SCHEMA: tag,
    DBT_EXECUTABLE: requireEnv('DBT_EXECUTABLE'),
    CLICKHOUSE_URL: requireEnv('CLICKHOUSE_URL'),
  });
  expect(code, `dbt ${args.join(' ')} failed:\n${text.split('\n').slice(-40).join('\n')}`).toBe(0);
}

/** Every documented read of the change logs and the marts, for this test's rows. */
async function documentedReads(t: { faults: CapturedTable; astronauts: CapturedTable }): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const mine = `startsWith(person_key, '${prefix}')`;
  out.faultChanges = await chRows(ch, `SELECT * FROM ${t.faults.objects.names.changes} FINAL ORDER BY ALL`);
  out.faultCurrent = await chRows(ch, `SELECT * FROM ${t.faults.objects.names.current} FINAL WHERE is_deleted = 0 ORDER BY ALL`);
  out.astronautChanges = await chRows(ch, `SELECT * FROM ${t.astronauts.objects.names.changes} FINAL WHERE ${mine} ORDER BY ALL`);
  out.staging = await chRows(ch, `SELECT * FROM ${tag}.stg_astros__astronaut_changes WHERE ${mine} ORDER BY ALL`);
  // which dbt run wrote a row is audit, not content
  out.dim_astronauts_scd2 = await chRows(ch, `SELECT * EXCEPT (dbt_invocation_id, dbt_loaded_at) FROM ${tag}.dim_astronauts_scd2 ORDER BY ALL`);
  for (const mart of ['fct_astronaut_stints', 'fct_crew_by_craft_daily']) out[mart] = await chRows(ch, `SELECT * FROM ${tag}.${mart} ORDER BY ALL`);
  return out;
}

/** Stop the queue (its views dropped, then the queue), move its group back by `n` messages (shared by its partitions), let reconcile create it again with the same group. */
async function rewind(t: CapturedTable, n: number): Promise<number> {
  const { names } = t.objects;
  for (const v of [...t.objects.views].reverse()) await ch.command({ query: `DROP VIEW IF EXISTS ${v.name}` });
  await ch.command({ query: `DROP TABLE IF EXISTS ${names.queue}` });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(names.topic);
    const each = Math.ceil(n / ends.length);
    const partitions = ends.map((p) => ({ partition: p.partition, offset: String(Math.max(Number(p.low), Number(p.high) - each)) }));
    await waitFor(() => admin.setOffsets({ groupId: names.group, topic: names.topic, partitions }).then(() => true), (ok) => ok, `the group ${names.group} to be empty`, 60_000, 1000);
    await reconcileClickHouse(ch, [t], () => undefined);
    await waitFor(
      async () => (await admin.fetchOffsets({ groupId: names.group, topics: [names.topic] }))[0]!.partitions,
      (got) => ends.every((e) => got.find((x) => x.partition === e.partition)?.offset === e.high),
      `${names.group} to consume the replayed messages on every partition`,
      120_000,
      500,
    );
    return ends.reduce((sum, e, i) => sum + Number(e.high) - Number(partitions[i]!.offset), 0);
  } finally {
    await admin.disconnect();
  }
}

describe('faults: SIGKILL each component mid-stream', () => {
  beforeAll(async () => {
    pool = postgres();
    pool.on('error', () => undefined); // idle clients die with Postgres
    ch = clickhouse();
    temporal = new Client({ connection: await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') }) });
  });

  afterAll(async () => {
    supervisor.stopping = true;
    if (worker) await killWorker().catch(() => undefined);
    await releaseTable(pool, source).catch(() => undefined);
    await pool.query(`drop table if exists ${source}`).catch(() => undefined);
    await pool.query(`delete from public.astronauts where starts_with(person_key, $1)`, [prefix]).catch(() => undefined);
    const n = tableNames(source, deriveOptions(testEndpoints()).names);
    for (const o of [n.changelogMv, n.currentMv, n.errorsMv, n.changesMv]) await ch.command({ query: `DROP VIEW IF EXISTS ${o}` }).catch(() => undefined);
    for (const o of [n.queue, n.changelog, n.changes, n.current]) await ch.command({ query: `DROP TABLE IF EXISTS ${o}` }).catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics: [n.topic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await ch.command({ query: `DROP DATABASE IF EXISTS ${tag}` }).catch(() => undefined);
    await temporal.connection.close().catch(() => undefined);
    await ch.close();
    await pool.end();
  });

  it('loses nothing and shows nothing twice; a rewind by 10,000 messages changes no documented read', { timeout: 900_000 }, async () => {
    const t0 = Date.now();
    await pool.query(`create table ${source} (id text primary key, change_id bigint not null, writes integer not null)`);
    await captureTable({ source, description: 'Fault-suite writer table.' });
    let t = await tables();
    startWorker();
    const writer = new FaultWriter(pool, source, prefix, { keys: 300, astronautEvery: 4, pauseMs: 40 });
    writer.start();
    await sleep(3000);

    const rows: PhaseRow[] = [];
    const inFlight: { component: string; id: string }[] = [];
    for (const component of [...stackComponents, 'worker'] as const) {
      const firstId = writer.lastId + 1;
      await sleep(2000);
      if (component === 'temporal' || component === 'worker') {
        // a validatePipeline run in flight across the crash must still complete, with the right verdict: it checks the
        // quiet self-test table (under the writer, a transaction whose changes precede the snapshot LSN but whose
        // commit follows it is reported as different: validation orders by the change's LSN, not its commit's)
        const id = `${tag}-${component}`;
        await temporal.workflow.start(VALIDATE_WORKFLOW_TYPE, { taskQueue, workflowId: id, args: [{ table: 'public.cdc_types_probe' }] });
        inFlight.push({ component, id });
        await sleep(1500);
      }
      const killedAt = Date.now();
      const workerRestarts = supervisor.restarts;
      if (component === 'worker') {
        await killWorker();
        startWorker();
      } else {
        // Postgres dies with a transaction open: the writer must find out it did not commit
        const release = component === 'postgres' ? await writer.holdBeforeCommit() : undefined;
        expect(await manager.kill(component), `${component} was running`).toBeDefined();
        release?.();
        await manager.up([component]);
      }
      const backAt = Date.now();
      const lastId = writer.lastId;
      const taskRestarts = await catchUp(writer, t.faults, lastId, `after the ${component} kill`);
      rows.push({ component, firstId, lastId, outageS: (backAt - killedAt) / 1000, catchUpS: (Date.now() - backAt) / 1000, taskRestarts, workerRestarts: supervisor.restarts - workerRestarts });
    }
    await sleep(2000);
    await writer.stop();
    await catchUp(writer, t.faults, writer.lastId, 'after the writer stopped');

    // Validation agrees (the current state against Postgres at one LSN), and the runs in flight across the crashes completed.
    const report = await validate(validationSpec(t.faults.declaration, t.faults.source, t.faults.objects.names));
    if (report.outcome !== 'agree') {
      const k = report.samples[0]?.key[0] ?? '';
      const pgRow = (await pool.query(`select * from ${source} where id = $1`, [k])).rows;
      const chRow = await chRows(ch, `SELECT * FROM ${t.faults.objects.names.current} WHERE id = {k:String} ORDER BY version`, { k });
      console.log(JSON.stringify({ columns: report.columns, sample: report.samples[0], pgRow, chRow }, null, 1));
    }
    expect(report.outcome, report.summary).toBe('agree');

    // Nothing lost, nothing visible twice, per component.
    const record = await events(t.faults, 'record');
    const changes = await events(t.faults, 'changes');
    const table = rows.map((r) => {
      return {
        component: r.component,
        ...windowFigures(writer, r.firstId, r.lastId, record, changes),
        'outage s': r.outageS.toFixed(1),
        'catch-up s': r.catchUpS.toFixed(1),
        'task restarts': r.taskRestarts,
        'worker restarts': r.workerRestarts,
      };
    });
    console.log(`fault suite (${writer.committed.length} changes committed, ${writer.inDoubt} in doubt and read back):`);
    console.table(table);
    expect(writer.inDoubt, 'the transaction held open across the Postgres crash was read back').toBeGreaterThan(0);
    for (const r of table) expect({ component: r.component, lost: r.lost, twice: r['visible twice'] }).toEqual({ component: r.component, lost: 0, twice: 0 });
    for (const w of inFlight) expect((await workflowResult(w.id)).outcome, `validatePipeline across the ${w.component} crash`).toBe('agree');
    const all = writer.committed.flatMap(FaultWriter.events);
    expect(all.filter((e) => changes.get(e) !== 1)).toEqual([]);
    expect([...changes.keys()].length).toBe(all.length); // nothing else either

    // The SCD2 mart is exactly what the committed astronaut changes give.
    await dbt(['build']);
    const dim = await chRows(
      ch,
      `SELECT person_key, version_number, stint_number, craft, is_current, toString(change_op) AS change_op, closed_by_op, updated_by_run
       FROM ${tag}.dim_astronauts_scd2 ORDER BY person_key, valid_from_lsn`,
    );
    expect(dim).toEqual(writer.expectedScd2());

    // A deliberate replay: 10,000 more changes in one transaction, then both consumer groups rewound by 10,000 messages.
    const base = 10_000_000;
    await pool.query(`insert into ${source} (id, change_id, writes) select $1 || 'bulk' || g, $2 + g, 1 from generate_series(1, ${REWIND}) g`, [prefix, base]);
    for (let g = 1; g <= REWIND; g++) writer.committed.push({ id: base + g, key: `${prefix}bulk${g}`, op: 'c' });
    await catchUp(writer, t.faults, base + REWIND, 'the bulk insert before the rewind');
    t = await tables();
    const before = await documentedReads(t);
    const recordBefore = [...(await events(t.faults, 'record')).values()].reduce((a, b) => a + b, 0);
    const replayed = { faults: await rewind(t.faults, REWIND), astronauts: await rewind(t.astronauts, REWIND) };
    expect(replayed.faults).toBe(REWIND);
    const recordAfter = [...(await events(t.faults, 'record')).values()].reduce((a, b) => a + b, 0);
    expect(recordAfter - recordBefore, 'the record keeps every replayed message').toBe(REWIND);
    expect(await documentedReads(t)).toEqual(before);
    await dbt(['run', '--full-refresh']);
    expect(await documentedReads(t)).toEqual(before);
    console.log(`replay: ${replayed.faults} + ${replayed.astronauts} messages re-read, every documented read unchanged; suite took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });
});
