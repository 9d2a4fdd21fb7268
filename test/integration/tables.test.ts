/**
 * `astros tables add|list|remove` on the running test stack, through the real
 * CLI (a child process) and a worker of this test's own task queue:
 *
 *  - a new 10,000-row table with a mix of types is captured by one `tables add`
 *    while a writer keeps inserting, updating and deleting (some changes in
 *    transactions held open across the load); the existing rows and
 *    every later change arrive, validation agrees, `tables list` shows it
 *    streaming, and its generated SCD2 model builds and matches the change log;
 *  - column options: a hashed column (ClickHouse holds Debezium's digest,
 *    recomputed here), a masked and a truncated one, a left-out one (no
 *    column in ClickHouse); validation agrees;
 *  - the loaded rows are in the change log as reads at one version (the load's
 *    L, below every change that streamed after it began) with no transaction;
 *  - no key, a missing table, a table the CDC role cannot read, a second add:
 *    one line naming the fix, nothing changed;
 *  - an empty table is added in seconds and streams; once every row of it is
 *    deleted (ranges by ctid, no live row) it resyncs, and a cancel that
 *    arrives after the resync's swap began says the swap is done (exit 7);
 *    NaN streamed into its numeric(38,18) and numeric columns validates
 *    through `astros validate`;
 *  - `tables remove --drop` stops capture and drops the targets.
 */
import crypto from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import { pipelineNames } from '../../shared/names.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { resyncProgressQuery, resyncWorkflowId } from '../../shared/workflows.ts';
import { chRows, clickhouse, dropCapturedTable, requireEnv, runCommand, startPipelineTestWorker, testEndpoints, uniqueTag, waitFor, type TestWorker, testKafka } from './helpers.ts';

const tag = uniqueTag('tbl');
const table = `orders_${tag}`;
const source = `public.${table}`;
const taskQueue = `tables-${tag}`;
const salt = 'pepper_1';

let pool: pg.Pool;
let su: pg.Pool;
let ch: ClickHouseClient;
let worker: TestWorker;

const emptySource = `public.empty_${tag}`;

const cli = (...args: string[]) => runCommand('npx', ['tsx', 'cli/astros.ts', ...args], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });
const astros = (...args: string[]) => cli('tables', ...args);

async function validate(table = source): Promise<ValidationReport> {
  const e = testEndpoints();
  const spec = await validationSpecFor(pool, table, e.groupPrefix);
  const acts = createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() });
  return new MockActivityEnvironment().run(acts.compareTable, { spec: { ...spec, buckets: 64, maxWaitMs: 120_000 }, reportKey: `tables-${tag}-${Date.now()}` });
}

/** Inserts, updates and deletes until stopped; every 8th change is a transaction with two updates of one key, held open 300 ms. */
function startWriter(): { stop: () => Promise<number> } {
  let running = true;
  let n = 0;
  const done = (async () => {
    let next = 20_001;
    while (running) {
      const id = 100 + Math.floor(Math.random() * 9_900);
      const kind = n % 8;
      if (kind === 7) {
        const c = await pool.connect();
        try {
          await c.query('begin');
          await c.query(`update ${source} set name = name || '+', amount = amount + 1 where id = $1`, [id]);
          await new Promise((r) => setTimeout(r, 300));
          await c.query(`update ${source} set email = $2 where id = $1`, [id, `tx${n}@example.org`]);
          await c.query('commit');
        } finally {
          c.release();
        }
      } else if (kind === 3) await pool.query(`delete from ${source} where id = $1`, [id]);
      else if (kind === 5) await pool.query(`insert into ${source} (id, name, email, phone, note, secret, amount, score, active, created_at) values ($1, 'new', 'n@x.org', null, 'fresh note', 's', 1.5, 0.25, true, now())`, [next++]);
      else await pool.query(`update ${source} set name = $2, active = not active, created_at = now() where id = $1`, [id, `name ${n} é`]);
      n++;
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return n;
    },
  };
}

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 6 });
  su = new pg.Pool({ connectionString: requireEnv('PG_SUPERUSER_URL').replace(/\/postgres$/, '/astros'), max: 2 });
  ch = clickhouse();
  worker = await startPipelineTestWorker(taskQueue, pool, ch);
  await pool.query(`create table ${source} (
      id bigint primary key, name text not null, email varchar(80), phone text, note text, secret text,
      amount numeric(12,2), score double precision, active boolean, created_at timestamptz)`);
  await pool.query(
    `insert into ${source} select g, 'name ' || g, 'user' || g || '@example.org', case when g % 3 = 0 then null else '+41 ' || g end,
            repeat('note ', 1 + g % 4), 'secret ' || g, g * 1.25, g / 7.0, g % 2 = 0, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
       from generate_series(1, 10000) g`,
  );
  await pool.query(`analyze ${source}`);
});

afterAll(async () => {
  await worker?.stop();
  if (pool && ch) await dropCapturedTable(pool, ch, emptySource);
  await pool?.query(`drop table if exists ${source}, public.nokey_${tag}`).catch(() => undefined);
  await su?.query(`drop table if exists public.theirs_${tag}`).catch(() => undefined);
  await ch?.close();
  await su?.end();
  await pool?.end();
});

describe('astros tables', () => {
  it('captures a 10,000-row table with one add while writes continue; validation agrees; list shows it streaming', { timeout: 420_000 }, async () => {
    const writer = startWriter();
    const add = await astros('add', source, '--hash', `email=${salt}`, '--mask', 'phone=4', '--truncate', 'note=7', '--exclude', 'secret', '--timeout', '6m');
    const writes = await writer.stop();
    expect(add.code, add.text).toBe(0);
    expect(add.text).toMatch(new RegExp(`${source}: streaming`));
    expect(writes).toBeGreaterThan(20);
    console.log(`[tables] add with ${writes} concurrent writes:\n${add.text}`);

    // Later changes arrive too.
    await pool.query(`update ${source} set name = 'after add' where id = 2`);
    await pool.query(`delete from ${source} where id = 4`);
    await pool.query(`insert into ${source} (id, name, email) values (30001, 'late', 'late@example.org')`);
    const report = await validate();
    expect(report.outcome, report.summary).toBe('agree');
    expect(report.sourceRows).toBeGreaterThan(9_000);
    expect(report.columns).not.toContain('secret');

    // Column options: hash (Debezium's digest of salt || value, lower-case hex), mask, truncate, left out.
    const cols = await chRows<{ name: string }>(ch, `SELECT name FROM system.columns WHERE database = 'astros' AND table = {t:String}`, { t: table });
    expect(cols.map((c) => c.name)).not.toContain('secret');
    const [row] = await chRows<{ email: string; phone: string | null; note: string }>(ch, `SELECT email, phone, note FROM astros.${table} FINAL WHERE id = 30001`);
    expect(row!.email).toBe(crypto.createHash('sha256').update(salt + 'late@example.org', 'utf8').digest('hex'));
    const masked = await chRows<{ id: string; phone: string | null; note: string }>(ch, `SELECT toString(id) AS id, phone, note FROM astros.${table} FINAL WHERE id IN (1, 3) ORDER BY id`);
    expect(masked).toEqual([
      { id: '1', phone: '****', note: 'note no' },
      { id: '3', phone: '****', note: 'note no' }, // Debezium masks NULL too
    ]);

    // The load's rows: one read per key in the deduplicated change log, all at one version L (> 0), no transaction.
    const [reads] = await chRows<{ n: string; lsns: string; min_lsn: string; with_tx: string }>(
      ch,
      `SELECT toString(count()) AS n, toString(uniqExact(lsn)) AS lsns, toString(min(lsn)) AS min_lsn, toString(countIf(tx_id IS NOT NULL)) AS with_tx
       FROM astros.${table}_changes FINAL WHERE op = 'r'`,
    );
    console.log(`[tables] loaded rows in the change log: ${JSON.stringify(reads)}`);
    expect(Number(reads!.n)).toBeGreaterThanOrEqual(9_000);
    expect(reads).toMatchObject({ lsns: '1', with_tx: '0' });
    expect(BigInt(reads!.min_lsn)).toBeGreaterThan(0n);

    const list = await astros('list', '--json');
    expect(list.code, list.text).toBe(0);
    const mine = (JSON.parse(list.text.slice(list.text.indexOf('['))) as { source: string; state: string; rows: number; lastValidation: string }[]).find((r) => r.source === source);
    expect(mine).toMatchObject({ state: 'streaming' });
    expect(mine!.rows).toBe(report.sourceRows);
    expect(mine!.lastValidation).toMatch(/^agree /);
  });

  it('builds the generated SCD2 model of the new table, matching the change log', { timeout: 300_000 }, async () => {
    const dbtSchema = `dbt_${tag}`;
    const model = `scd2_${table}`;
    await waitFor(() => validate(), (r) => r.outcome === 'agree', 'ClickHouse to agree before dbt', 120_000, 1000);
    const run = await runCommand('bash', ['scripts/dbt.sh', 'build', '--select', model], {
      DBT_USE_COLORS: 'false',
      DBT_SCHEMA: dbtSchema,
      DBT_EXECUTABLE: requireEnv('DBT_EXECUTABLE'),
      CLICKHOUSE_URL: requireEnv('CLICKHOUSE_URL'),
    });
    try {
      expect(run.code, run.text.split('\n').slice(-40).join('\n')).toBe(0);
      // The current versions are exactly ClickHouse's live rows.
      const [cmp] = await chRows<{ hist: string; live: string; same: string }>(
        ch,
        `SELECT (SELECT toString(count()) FROM ${dbtSchema}.${model} WHERE is_current) AS hist,
                (SELECT toString(count()) FROM astros.${table} FINAL WHERE is_deleted = 0) AS live,
                (SELECT toString(count()) FROM ${dbtSchema}.${model} h
                   JOIN (SELECT * FROM astros.${table} FINAL WHERE is_deleted = 0) c ON c.id = h.id
                  WHERE h.is_current AND h.name = c.name AND ifNull(h.email, '-') = ifNull(c.email, '-') AND h.amount IS NULL = (c.amount IS NULL) AND ifNull(h.amount, 0) = ifNull(c.amount, 0)) AS same`,
      );
      expect(cmp).toEqual({ hist: cmp!.live, live: cmp!.live, same: cmp!.live });
      // Every streamed change is a version or a delete; windows are contiguous; a deleted key has no current row.
      const [chk] = await chRows<{ gaps: string; deleted_current: string; events: string; versions: string }>(
        ch,
        `SELECT
           (SELECT toString(count()) FROM ${dbtSchema}.${model} WHERE NOT is_current AND valid_to_lsn IS NULL) AS gaps,
           (SELECT toString(count()) FROM ${dbtSchema}.${model} WHERE is_current AND id = 4) AS deleted_current,
           (SELECT toString(uniqExact(id, lsn)) FROM astros.${table}_changelog WHERE op IN ('c', 'u')) AS events,
           (SELECT toString(count()) FROM ${dbtSchema}.${model} WHERE change_op IN ('c', 'u')) AS versions`,
      );
      expect(chk).toMatchObject({ gaps: '0', deleted_current: '0' });
      expect(chk!.versions).toBe(chk!.events);
    } finally {
      await ch.command({ query: `DROP DATABASE IF EXISTS ${dbtSchema}` });
    }
  });

  it('adds an empty table in seconds; a streamed insert arrives, NaN numerics validate', { timeout: 300_000 }, async () => {
    await pool.query(`create table ${emptySource} (id text primary key, v text, amount numeric(38,18), free numeric)`);
    const t0 = Date.now();
    const add = await astros('add', emptySource, '--timeout', '4m');
    console.log(`[tables] empty table added in ${((Date.now() - t0) / 1000).toFixed(1)} s:\n${add.text}`);
    expect(add.code, add.text).toBe(0);
    expect(add.text).toContain(`${emptySource}: streaming (key id; 0 rows loaded)`);
    // Streamed, not loaded: NaN in a numeric(p,s) column (NULL in the Decimal, 'NaN' beside it) and in an unconstrained one.
    await pool.query(`insert into ${emptySource} values ('num_nan', 'x', 'NaN', 'NaN'), ('num_one', 'y', 1.5, 1.5)`);
    const arrived = await waitFor(
      () => chRows<{ id: string; amount: string | null; amount_text: string; free: string }>(ch, `SELECT id, toString(amount) AS amount, amount_text, free FROM astros.empty_${tag} FINAL WHERE is_deleted = 0 ORDER BY id`),
      (r) => r.length === 2,
      'the streamed rows of the empty table',
    );
    expect(arrived[0]).toEqual({ id: 'num_nan', amount: null, amount_text: 'NaN', free: 'NaN' });
    // Through the command a person runs: it compares amount_text with Postgres, as the workflows do.
    const v = await cli('validate', '--table', emptySource, '--timeout', '3m');
    expect(v.code, v.text).toBe(0);
    expect(v.text).toContain('agree (source 2 rows, target 2 live rows');
  });

  it('resyncs the table once all its rows are deleted; a cancel after the swap began reports the swap done (exit 7)', { timeout: 300_000 }, async () => {
    // Blocks by ctid, but no live row in any of them.
    await pool.query(`insert into ${emptySource} select 'del_' || g, repeat('x', 200), g, g from generate_series(1, 500) g`);
    await pool.query(`delete from ${emptySource}`);
    const t0 = Date.now();
    const resync = cli('resync', emptySource, '--timeout', '4m');
    const handle = worker.client.workflow.getHandle(resyncWorkflowId(emptySource));
    // Cancelled as soon as the swap has begun: it cannot stop it any more.
    const seen = await waitFor(() => handle.query(resyncProgressQuery), (p) => !['preparing', 'loading'].includes(p.phase), 'the resync to begin its swap', 240_000, 50);
    await handle.cancel();
    const r = await resync;
    console.log(`[tables] all-deleted table resynced in ${((Date.now() - t0) / 1000).toFixed(1)} s, cancelled in phase ${seen.phase}:\n${r.text}`);
    expect(r.code, r.text).toBe(7);
    expect(r.text).toContain(`${emptySource}: resynced 0 rows`);
    expect(r.text).toContain('the swap is done and the live table is the reloaded copy');
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    // The copy is the reloaded one (its shadow gone), and it streams.
    const left = await chRows<{ name: string }>(ch, `SELECT name FROM system.tables WHERE database = 'astros' AND startsWith(name, {t:String})`, { t: `empty_${tag}_resync` });
    expect(left).toEqual([]);
    await pool.query(`insert into ${emptySource} values ('after', 'z', 2, 2)`);
    await waitFor(() => chRows<{ id: string }>(ch, `SELECT id FROM astros.empty_${tag} FINAL WHERE is_deleted = 0`), (rows) => rows.length === 1 && rows[0]?.id === 'after', 'the insert after the resync');
    const report = await validate(emptySource);
    expect(report.outcome, report.summary).toBe('agree');
  });

  it('refuses a table without a key, a missing table, one the CDC role cannot read, and a second add: one line naming the fix, nothing changed', { timeout: 180_000 }, async () => {
    await pool.query(`create table public.nokey_${tag} (a int, b text)`);
    await su.query(`create table public.theirs_${tag} (id int primary key, v text)`);
    const catalogBefore = await pool.query(`select source, state, updated_at from ${pipelineNames.catalogTable} order by source`);
    const pubBefore = await pool.query(`select tablename from pg_publication_tables where pubname = $1 order by 1`, [pipelineNames.publication]);
    const cases: [string, RegExp][] = [
      [`public.nokey_${tag}`, /has no primary key: add one, or name the key columns: astros tables add \S+ --key/],
      [`public.missing_${tag}`, /Postgres has no table public\.missing_\S+: create it first/],
      [`public.theirs_${tag}`, /the CDC role astros_cdc cannot read \S+; as its owner \(postgres\) or a superuser run: grant usage on schema "public" to astros_cdc; grant select on "public"\."theirs_\S+" to astros_cdc;/],
      [source, /is already captured \(state streaming\): nothing to do/],
    ];
    for (const [table, expected] of cases) {
      const r = await astros('add', table, '--timeout', '1m');
      expect(r.code, r.text).toBe(1);
      const errorLines = r.text.split('\n').filter((l) => l.startsWith('astros: '));
      expect(errorLines, r.text).toHaveLength(1);
      expect(errorLines[0]).toMatch(expected);
    }
    expect((await pool.query(`select source, state, updated_at from ${pipelineNames.catalogTable} order by source`)).rows).toEqual(catalogBefore.rows);
    expect((await pool.query(`select tablename from pg_publication_tables where pubname = $1 order by 1`, [pipelineNames.publication])).rows).toEqual(pubBefore.rows);
  });

  it('removes the table: capture stops, the ClickHouse targets are dropped with --drop', { timeout: 300_000 }, async () => {
    const r = await astros('remove', source, '--drop', '--timeout', '5m');
    expect(r.code, r.text).toBe(0);
    const { rows } = await pool.query(`select state from ${pipelineNames.catalogTable} where source = $1`, [source]);
    expect(rows).toEqual([{ state: 'removed' }]);
    const pub = await pool.query(`select 1 from pg_publication_tables where pubname = $1 and tablename = $2`, [pipelineNames.publication, table]);
    expect(pub.rowCount).toBe(0);
    const left = await chRows<{ name: string }>(ch, `SELECT name FROM system.tables WHERE database = 'astros' AND startsWith(name, {t:String})`, { t: table });
    expect(left).toEqual([]);
    const tasks = (await (await fetch(`${requireEnv('CONNECT_URL')}/connectors/${pipelineNames.connector}/tasks`)).json()) as { config: Record<string, string> }[];
    expect(tasks[0]!.config['table.include.list']).not.toContain(source);
  });
});
