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
 *    `tables list` shows it blocked, the other table keeps flowing, and after
 *    the fix (undo, `tables resume`) nothing is lost.
 * After each: validation agrees, a row-by-row comparison of every column
 * agrees, and the change log holds each committed change of the writer once.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createValidationActivities } from '../../activities/pipeline-validation/activities.ts';
import type { ValidationReport } from '../../activities/pipeline-validation/types.ts';
import { tableNames } from '../../catalog/names.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { resyncWorkflowId } from '../../workflows/resync-table.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, requireEnv, runCommand, startPipelineTestWorker, testEndpoints, uniqueTag, waitFor, type TestWorker } from './helpers.ts';

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

async function validate(source: string): Promise<ValidationReport> {
  const e = testEndpoints();
  const spec = await validationSpecFor(pool, source, e.groupPrefix);
  const acts = createValidationActivities({ pool, clickhouse: ch, kafkaBrokers: e.kafkaBrokers.split(',') });
  return new MockActivityEnvironment().run(acts.compareTable, { spec: { ...spec, buckets: 64, maxWaitMs: 120_000 }, reportKey: `schema-${tag}-${Date.now()}` });
}

/** Every column of every row, Postgres against ClickHouse's current state, as text. */
async function sameRows(source: string, columns: string[]): Promise<void> {
  const byId = (a: Record<string, string | null>, b: Record<string, string | null>) => Number(a.id) - Number(b.id);
  // trim_scale: ClickHouse prints a Decimal without trailing zeros.
  const pgText = (c: string) => (c === 'price' ? `trim_scale(t.${c})::text` : `t.${c}::text`);
  const { rows: want } = await pool.query<Record<string, string | null>>(`select ${columns.map((c) => `${pgText(c)} as ${c}`).join(', ')} from ${source} t`);
  const have = await chRows<Record<string, string | null>>(
    ch,
    `SELECT ${columns.map((c) => `if(isNull(t.${c}), NULL, toString(t.${c})) AS ${c}`).join(', ')} FROM ${names(source).current} AS t FINAL WHERE t.is_deleted = 0`,
  );
  want.sort(byId);
  have.sort(byId);
  expect(have.length).toBe(want.length);
  const diff = want.flatMap((w, i) => (JSON.stringify(w) !== JSON.stringify(have[i]) ? [{ postgres: w, clickhouse: have[i] }] : []));
  expect(diff.slice(0, 3), `${diff.length} rows differ`).toEqual([]);
}

const writers: { stop: () => Promise<number> }[] = [];

/** Updates and inserts on the busy table until stopped; counts the committed changes. */
function startWriter(): { stop: () => Promise<number> } {
  let running = true;
  let changes = 0;
  let next = 100_000 + Math.floor(Math.random() * 1000) * 1000;
  const done = (async () => {
    while (running) {
      const id = 1 + Math.floor(Math.random() * ROWS);
      try {
        if (changes % 4 === 3) await pool.query(`insert into ${busy} (id, name) values ($1, 'new')`, [next++]);
        else await pool.query(`update ${busy} set name = name || '.' where id = $1`, [id]);
        changes++;
      } catch (err) {
        // An ALTER holds the table's lock: the write waits, it does not fail. Anything else is a test failure.
        throw new Error(`writer: ${(err as Error).message}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  const writer = {
    stop: async () => {
      running = false;
      await done;
      return changes;
    },
  };
  writers.push(writer);
  return writer;
}

/** The newest row of the DDL log (changes after it are the test's). */
async function lastLogId(): Promise<string> {
  return (await pool.query<{ id: string }>(`select coalesce(max(id), 0)::text as id from public.cdc_ddl_log`)).rows[0]!.id;
}

/** Wait until every change of the table logged after `after` is applied (or refused); returns their statuses. */
async function settled(source: string, after: string, timeoutMs = 180_000): Promise<string[]> {
  const rows = await waitFor(
    () => pool.query<{ status: string; outcome: string | null }>(`select status, outcome from public.cdc_ddl_log where source = $1 and id > $2 order by id`, [source, after]).then((r) => r.rows),
    (r) => r.length > 0 && r.every((x) => x.status !== 'pending'),
    `the schema changes of ${source} to be applied`,
    timeoutMs,
    500,
  );
  return rows.map((r) => r.status);
}

async function lsnNow(): Promise<string> {
  return (await pool.query<{ n: string }>(`select (pg_current_wal_insert_lsn() - '0/0')::text as n`)).rows[0]!.n;
}

/** Changes of the busy table committed after `from`, as the deduplicated change log holds them. */
async function changesSince(source: string, from: string): Promise<{ n: number; distinct: number }> {
  const [r] = await chRows<{ n: string; d: string }>(
    ch,
    `SELECT toString(count()) AS n, toString(uniqExact(id, lsn)) AS d FROM ${names(source).changes} FINAL WHERE lsn > ${from} AND op IN ('c', 'u', 'd')`,
  );
  return { n: Number(r!.n), distinct: Number(r!.d) };
}

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 6 });
  ch = clickhouse();
  await pool.query(`create table ${busy} (id bigint primary key, name text not null, n smallint, price numeric(8,2), legacy text)`);
  await pool.query(`insert into ${busy} select g, 'row ' || g, g % 100, g * 0.25, 'old ' || g from generate_series(1, ${ROWS}) g`);
  await pool.query(`create table ${idle} (id bigint primary key, v integer, label text)`);
  await pool.query(`insert into ${idle} select g, g * 10, 'idle ' || g from generate_series(1, 200) g`);
  await captureTable({ source: busy });
  await captureTable({ source: idle });
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
  client = worker.client;
  // The rows written before capture: loaded once, as `tables add` does.
  for (const source of [busy, idle]) {
    await client.workflow.execute('resyncTable', { taskQueue, workflowId: `${resyncWorkflowId(source)}-${Date.now()}`, args: [{ source }] });
  }
  await client.workflow.start('watchSchemaChanges', { taskQueue, workflowId: `schema-changes-${tag}`, args: [{ tables: [busy, idle], pollSeconds: 1 }] });
}, 240_000);

afterEach(async () => {
  for (const w of writers.splice(0)) await w.stop().catch(() => undefined);
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
    // Setup (or another table's add) declares and applies the catalog again: the table stays blocked, its consumer stopped.
    await captureTable({ source: idle });
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
});
