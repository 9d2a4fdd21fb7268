/**
 * Schema changes in Postgres reach ClickHouse with no manual step, on the
 * test stack, through the event triggers (db/init/30_schema_changes.sql), the
 * DDL log and this test's own watch workflow (workflows/schema-changes.ts),
 * while a writer keeps changing the table:
 *
 *  - ADD COLUMN … DEFAULT 'dflt' with 1,000 rows written before it: every row,
 *    untouched ones included, reads the default in ClickHouse;
 *  - ADD COLUMN, RENAME COLUMN, widening (smallint -> integer, numeric(8,2) ->
 *    numeric(12,2)) and DROP COLUMN back to back: values continue under the new
 *    names and types; the dropped column is gone from the current state and
 *    kept in the change log;
 *  - the same ADD … DEFAULT on an idle table;
 *  - a new column named like one of the pipeline's own is refused, and the
 *    table resumes once it is dropped again;
 *  - a change ClickHouse cannot take (integer -> text) blocks only that table,
 *    `tables list` shows it blocked, validating it says so at once, the other
 *    table keeps flowing, and after the fix (undo, `tables resume`) nothing is lost;
 *  - two ADD COLUMNs with volatile defaults 3 s apart while writing are folded
 *    into one change with no failed attempt, and the other table's change,
 *    made while the busy table's reload waits, is applied first.
 * After each: validation agrees, a row-by-row comparison of every column
 * agrees, and the change log holds each committed change of the writer once.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ValidationReport } from '../../shared/validation.ts';
import { resyncWorkflowId } from '../../shared/workflows.ts';
import { tableNames } from '../../shared/names.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, requireEnv, runCommand, startPipelineTestWorker, testEndpoints, uniqueTag, waitFor, type TestWorker } from './helpers.ts';
import {
  changesSince as changesSinceOf,
  sameRows as sameRowsOf,
  validateTable,
  failedAttempts,
  lastLogId as lastLogIdOf,
  logRows,
  lsnNow as lsnNowOf,
  settled as settledOf,
  startWriter as startBusyWriter,
  type Writer,
} from './schema-change-helpers.ts';

const tag = uniqueTag('sc');
const busy = `public.sc_busy_${tag}`;
const idle = `public.sc_idle_${tag}`;
const taskQueue = `schema-${tag}`;
const ROWS = 1_000;

let pool: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker | undefined;
let client: Client;
const names = (source: string) => tableNames(source, { groupPrefix: testEndpoints().groupPrefix });

const validate = (source: string): Promise<ValidationReport> => validateTable(pool, ch, source, `schema-${tag}`);
const sameRows = (source: string, columns: string[]): Promise<void> => sameRowsOf(pool, ch, source, names(source).current, columns);

const writers: Writer[] = [];
const startWriter = (): Writer => {
  const w = startBusyWriter(pool, busy, ROWS);
  writers.push(w);
  return w;
};
const lastLogId = () => lastLogIdOf(pool);
const settled = (source: string, after: string, timeoutMs?: number) => settledOf(pool, source, after, timeoutMs);
const lsnNow = () => lsnNowOf(pool);
const changesSince = (source: string, from: string) => changesSinceOf(ch, names(source).changes, from);

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 6 });
  ch = clickhouse();
  await pool.query(`create table ${busy} (id bigint primary key, name text not null, n smallint, price numeric(8,2), legacy text)`);
  await pool.query(`insert into ${busy} select g, 'row ' || g, g % 100, g * 0.25, 'old ' || g from generate_series(1, ${ROWS}) g`);
  await pool.query(`create table ${idle} (id bigint primary key, v integer, label text)`);
  await pool.query(`insert into ${idle} select g, g * 10, 'idle ' || g from generate_series(1, 200) g`);
  // Three partitions each: old- and new-shape events are in flight on different partitions at once.
  await captureTable({ source: busy, partitions: 3 });
  await captureTable({ source: idle, partitions: 3 });
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
  client = worker.client;
  // The rows written before capture: loaded once, as `tables add` does.
  for (const source of [busy, idle]) {
    await client.workflow.execute('resyncTable', { taskQueue, workflowId: `${resyncWorkflowId(source)}-${Date.now()}`, args: [{ source }] });
  }
  await client.workflow.start('watchSchemaChanges', { taskQueue, workflowId: `schema-changes-${tag}`, args: [{ tables: [busy, idle], pollSeconds: 1 }] });
  // Capturing logged ALTERs of its own (replica identity): applied (as nothing to do) before any test, so each test's changes are its own.
  await waitFor(
    () => pool.query<{ n: number }>(`select count(*)::int as n from public.cdc_ddl_log where source = any($1) and status = 'pending'`, [[busy, idle]]).then((r) => r.rows[0]!.n),
    (n) => n === 0,
    "the captures' own schema changes to be applied",
    120_000,
    500,
  );
}, 360_000);

/** Transactions a test holds open; a failed test's are rolled back (the pool could not end with them). */
const holds: pg.PoolClient[] = [];

afterEach(async () => {
  for (const w of writers.splice(0)) await w.stop().catch(() => undefined);
  for (const h of holds.splice(0)) {
    await h.query('rollback').catch(() => undefined);
    h.release();
  }
});

afterAll(async () => {
  await client?.workflow.getHandle(`schema-changes-${tag}`).terminate('test done').catch(() => undefined);
  await worker?.stop();
  for (const source of [busy, idle]) if (pool && ch) await dropCapturedTable(pool, ch, source);
  await pool?.query(`delete from public.cdc_ddl_log where source = any($1)`, [[busy, idle]]).catch(() => undefined);
  await ch?.close();
  await pool?.end();
});

describe('schema changes', () => {
  it('ADD COLUMN with a constant default while writing: rows untouched since before it read the default too', { timeout: 300_000 }, async () => {
    const mark = await lastLogId();
    const from = await lsnNow();
    const writer = startWriter();
    await new Promise((r) => setTimeout(r, 1_000));
    await pool.query(`alter table ${busy} add column note text default 'dflt'`);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await settled(busy, mark)).toEqual(['applied']);
    const written = await writer.stop();
    const report = await validate(busy);
    expect(report.outcome, report.summary).toBe('agree');
    expect(report.columns).toContain('note');
    await sameRows(busy, ['id', 'name', 'n', 'price', 'legacy', 'note']);
    const [untouched] = await chRows<{ n: string }>(ch, `SELECT toString(countIf(note = 'dflt')) AS n FROM ${names(busy).current} FINAL WHERE is_deleted = 0`);
    expect(Number(untouched!.n)).toBeGreaterThan(ROWS / 2);
    const log = await changesSince(busy, from);
    expect(log).toEqual({ n: written, distinct: written });
  });

  it('ADD, RENAME, widening and DROP back to back while writing: values continue under the new names and types', { timeout: 300_000 }, async () => {
    const mark = await lastLogId();
    const writer = startWriter();
    await pool.query(`alter table ${busy} add column extra integer`);
    await pool.query(`update ${busy} set extra = id * 2 where id <= 50`);
    await pool.query(`alter table ${busy} rename column note to remark`);
    await pool.query(`update ${busy} set remark = 'after rename' where id <= 20`);
    await pool.query(`alter table ${busy} alter column n type integer, alter column price type numeric(12,2)`);
    await pool.query(`update ${busy} set n = 100000, price = 1234567.89 where id = 7`);
    await pool.query(`alter table ${busy} drop column legacy`);
    expect(await settled(busy, mark)).toEqual(['applied', 'applied', 'applied', 'applied']);
    await writer.stop();
    const report = await validate(busy); // waits for ClickHouse to catch up
    await sameRows(busy, ['id', 'name', 'n', 'price', 'remark', 'extra']);
    expect(report.outcome, report.summary).toBe('agree');
    const cols = await chRows<{ name: string; type: string }>(ch, `SELECT name, type FROM system.columns WHERE database = 'astros' AND table = {t:String}`, { t: names(busy).base });
    expect(cols.map((c) => c.name)).not.toContain('note');
    expect(cols.map((c) => c.name)).not.toContain('legacy');
    expect(cols.find((c) => c.name === 'n')?.type).toMatch(/Int32/);
    // The dropped column's values stay in the change log; the new one's arrived there too.
    const [kept] = await chRows<{ legacy: string; extra: string }>(
      ch,
      `SELECT toString(countIf(legacy IS NOT NULL)) AS legacy, toString(countIf(extra IS NOT NULL)) AS extra FROM ${names(busy).changes} FINAL`,
    );
    expect(Number(kept!.legacy)).toBeGreaterThanOrEqual(ROWS);
    expect(Number(kept!.extra)).toBeGreaterThanOrEqual(50);
  });

  it('ADD COLUMN with a default on an idle table', { timeout: 300_000 }, async () => {
    const mark = await lastLogId();
    await pool.query(`alter table ${idle} add column flag boolean default true`);
    expect(await settled(idle, mark)).toEqual(['applied']);
    const report = await validate(idle);
    expect(report.outcome, report.summary).toBe('agree');
    await sameRows(idle, ['id', 'v', 'label', 'flag']);
  });

  it('a new column ClickHouse cannot hold under its name is refused; dropped again, the table resumes', { timeout: 180_000 }, async () => {
    const mark = await lastLogId();
    await pool.query(`alter table ${idle} add column version bigint`);
    expect(await settled(idle, mark)).toEqual(['refused']);
    const [refusal] = (await pool.query<{ outcome: string }>(`select outcome from public.cdc_ddl_log where source = $1 and id > $2`, [idle, mark])).rows;
    expect(refusal!.outcome).toMatch(/schema change refused: column\(s\) version would clash in ClickHouse with the pipeline's own columns .*fix: undo the change/);
    await pool.query(`alter table ${idle} drop column version`);
    const resumed = await runCommand('npx', ['tsx', 'cli/astros.ts', 'tables', 'resume', idle], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
    expect(resumed.code, resumed.text).toBe(0);
    const report = await validate(idle);
    expect(report.outcome, report.summary).toBe('agree');
  });

  it('a change ClickHouse cannot take blocks only its table; after the fix nothing is lost', { timeout: 300_000 }, async () => {
    const mark = await lastLogId();
    await pool.query(`alter table ${idle} alter column v type text`);
    expect((await settled(idle, mark)).at(-1)).toBe('refused');
    const [refusal] = (await pool.query<{ outcome: string }>(`select outcome from public.cdc_ddl_log where source = $1 and status = 'refused'`, [idle])).rows;
    expect(refusal!.outcome).toMatch(new RegExp(`^${idle.replace('.', '\\.')}: schema change refused: column v changed type .*fix: undo the change`));
    await pool.query(`update ${idle} set label = 'while blocked' where id <= 10`);
    // The other table keeps flowing.
    await pool.query(`update ${busy} set name = 'still flowing' where id = 5`);
    const other = await validate(busy);
    expect(other.outcome, other.summary).toBe('agree');
    const list = await runCommand('npx', ['tsx', 'cli/astros.ts', 'tables', 'list'], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
    expect(list.text).toMatch(new RegExp(`${idle.replace('.', '\\.')}\\s+blocked .*blocked since .*stay in Kafka for another (6 d 23 h|7 d)`));
    // Validating it says so at once, with the reason (no wait for a consumer that is stopped).
    const t0 = Date.now();
    const validated = await runCommand('npx', ['tsx', 'cli/astros.ts', 'validate', '--table', idle], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
    console.log(`validate of the blocked table: exit ${validated.code} after ${Date.now() - t0} ms: ${validated.text.trim()}`);
    expect(validated.code, validated.text).toBe(7);
    expect(validated.text).toMatch(new RegExp(`validate: ${idle.replace('.', '\\.')} is blocked since .*, nothing compared: ${idle.replace('.', '\\.')}: schema change refused: column v changed type`));
    // Setup (or another table's add) declares and applies the catalog again: the table stays blocked, its consumer stopped.
    await captureTable({ source: idle, partitions: 3 });
    const [still] = (await pool.query<{ state: string }>(`select state from public.captured_tables where source = $1`, [idle])).rows;
    expect(still!.state).toBe('blocked');
    const queues = await chRows<{ name: string }>(ch, `SELECT name FROM system.tables WHERE database = 'astros' AND name = {q:String}`, { q: names(idle).queue.split('.').at(-1)! });
    expect(queues).toEqual([]);
    // And the dry run of setup says so instead of planning a consumer for it.
    const plan = await runCommand('npx', ['tsx', 'cli/catalog.ts', 'plan', '--profile', 'test'], { FORCE_COLOR: '0' });
    expect(plan.code, plan.text).toBe(0);
    expect(plan.text).toContain(`${idle} is blocked: its ClickHouse objects are left as they are`);
    expect(plan.text).not.toMatch(new RegExp(`^${idle.replace('.', '\\.')}: would`, 'm'));

    // The fix the message names: undo, then resume.
    await pool.query(`alter table ${idle} alter column v type integer using v::integer`);
    const resumed = await runCommand('npx', ['tsx', 'cli/astros.ts', 'tables', 'resume', idle], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
    expect(resumed.code, resumed.text).toBe(0);
    const report = await validate(idle);
    expect(report.outcome, report.summary).toBe('agree');
    await sameRows(idle, ['id', 'v', 'label', 'flag']);
    const [state] = (await pool.query<{ state: string }>(`select state from public.captured_tables where source = $1`, [idle])).rows;
    expect(state!.state).toBe('active');
  });

  it('two ADD COLUMNs with volatile defaults 3 s apart while writing: folded, no failed attempt; the other table\'s change made during the reload is applied first', { timeout: 420_000 }, async () => {
    const mark = await lastLogId();
    const writer = startWriter();
    // A transaction id held open: the busy table's reload waits for it before reading (prepareResync), so it is still running when the other table is altered.
    const hold = await pool.connect();
    holds.push(hold);
    await hold.query('begin');
    await hold.query('select pg_current_xact_id()');
    const t0 = Date.now();
    await pool.query(`alter table ${busy} add column created timestamptz default now()`);
    await new Promise((r) => setTimeout(r, 3_000));
    await pool.query(`alter table ${busy} add column token uuid default gen_random_uuid()`);
    const [first, second] = await logRows(pool, busy, mark);
    const change = `schema-change-${first!.id}`;
    await waitFor(
      async () => {
        const reloads = [];
        for await (const w of client.workflow.list({ query: `WorkflowType = 'resyncTable' AND ExecutionStatus = 'Running'` })) if (w.workflowId.startsWith(`${change}-reload`)) reloads.push(w.workflowId);
        return reloads;
      },
      (r) => r.length > 0,
      `the reload of ${busy} to run`,
      240_000,
      500,
    );
    const held = Date.now();
    const otherMark = await lastLogId();
    await pool.query(`alter table ${idle} add column note text`);
    expect(await settled(idle, otherMark, 120_000)).toEqual(['applied']);
    expect((await logRows(pool, busy, mark)).map((r) => r.status)).toEqual(['pending', 'pending']);
    const otherAfter = (Date.now() - held) / 1000;
    await hold.query('commit');
    holds.splice(0).forEach((h) => h.release());
    const released = Date.now();
    expect(await settled(busy, mark, 240_000)).toEqual(['applied', 'applied']);
    const took = (Date.now() - t0) / 1000;
    const heldFor = (released - held) / 1000;
    await writer.stop();
    console.log(
      `two volatile-default ADD COLUMNs 3 s apart: both applied ${took.toFixed(1)} s after the first (${(took - heldFor).toFixed(1)} s without the ${heldFor.toFixed(1)} s the reload was held); ` +
        `the other table's ADD COLUMN applied ${otherAfter.toFixed(1)} s after it was made, while the busy table's reload waited`,
    );
    expect(await failedAttempts(client, change)).toEqual([]);
    // The second change was folded into the first: no workflow of its own.
    await expect(client.workflow.getHandle(`schema-change-${second!.id}`).describe()).rejects.toThrow(/not found/i);
    const report = await validate(busy);
    expect(report.outcome, report.summary).toBe('agree');
    expect(report.columns).toEqual(expect.arrayContaining(['created', 'token']));
    const [filled] = await chRows<{ n: string }>(ch, `SELECT toString(countIf(created IS NULL OR token IS NULL)) AS n FROM ${names(busy).current} FINAL WHERE is_deleted = 0`);
    expect(filled!.n).toBe('0');
    const idleReport = await validate(idle);
    expect(idleReport.outcome, idleReport.summary).toBe('agree');
  });
});
