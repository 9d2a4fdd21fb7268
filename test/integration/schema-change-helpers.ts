/**
 * What test/integration/schema-changes.test.ts reads and writes besides the
 * pipeline itself: a writer that keeps changing a table, the DDL log's
 * statuses, the change log since an LSN, validation and a row-by-row
 * comparison, and the failed attempts recorded in a schema change's workflow
 * histories.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { expect } from 'vitest';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { chRows, testEndpoints, waitFor, testKafka } from './helpers.ts';

export interface Writer {
  stop: () => Promise<number>;
}

/** Updates (ids 1..rows) and inserts on `table` until stopped; counts the committed changes. */
export function startWriter(pool: pg.Pool, table: string, rows: number): Writer {
  let running = true;
  let changes = 0;
  let next = 100_000 + Math.floor(Math.random() * 1000) * 1000;
  const done = (async () => {
    while (running) {
      const id = 1 + Math.floor(Math.random() * rows);
      try {
        if (changes % 4 === 3) await pool.query(`insert into ${table} (id, name) values ($1, 'new')`, [next++]);
        else await pool.query(`update ${table} set name = name || '.' where id = $1`, [id]);
        changes++;
      } catch (err) {
        // An ALTER holds the table's lock: the write waits, it does not fail. Anything else is a test failure.
        throw new Error(`writer: ${(err as Error).message}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return changes;
    },
  };
}

/** The newest row of the DDL log (changes after it are the test's). */
export async function lastLogId(pool: pg.Pool): Promise<string> {
  return (await pool.query<{ id: string }>(`select coalesce(max(id), 0)::text as id from public.cdc_ddl_log`)).rows[0]!.id;
}

/** The statuses (and ids) of the table's changes logged after `after`, in order. */
export async function logRows(pool: pg.Pool, source: string, after: string): Promise<{ id: string; status: string; outcome: string | null }[]> {
  const { rows } = await pool.query<{ id: string; status: string; outcome: string | null }>(
    `select id::text, status, outcome from public.cdc_ddl_log where source = $1 and id > $2 order by id`,
    [source, after],
  );
  return rows;
}

/** Wait until every change of the table logged after `after` is applied (or refused); returns their statuses. */
export async function settled(pool: pg.Pool, source: string, after: string, timeoutMs = 180_000): Promise<string[]> {
  const rows = await waitFor(() => logRows(pool, source, after), (r) => r.length > 0 && r.every((x) => x.status !== 'pending'), `the schema changes of ${source} to be applied`, timeoutMs, 500);
  return rows.map((r) => r.status);
}

export async function lsnNow(pool: pg.Pool): Promise<string> {
  return (await pool.query<{ n: string }>(`select (pg_current_wal_insert_lsn() - '0/0')::text as n`)).rows[0]!.n;
}

/** Changes of a table committed after `from`, as the deduplicated change log holds them. */
export async function changesSince(ch: ClickHouseClient, changes: string, from: string): Promise<{ n: number; distinct: number }> {
  const [r] = await chRows<{ n: string; d: string }>(ch, `SELECT toString(count()) AS n, toString(uniqExact(id, lsn)) AS d FROM ${changes} FINAL WHERE lsn > ${from} AND op IN ('c', 'u', 'd')`);
  return { n: Number(r!.n), distinct: Number(r!.d) };
}

/**
 * Every failed attempt of a workflow and of the children it started: a run
 * started more than once, an activity retried (an attempt above 1, or a final
 * failure or timeout), a child that failed. Empty when nothing failed.
 */
export async function failedAttempts(client: Client, workflowId: string): Promise<string[]> {
  const out: string[] = [];
  let runs = 0;
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs += w.workflowId === workflowId ? 1 : 0;
  if (runs !== 1) out.push(`${workflowId}: ${runs} runs`);
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const names = new Map<string, string>();
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) names.set(String(e.eventId), scheduled.activityType?.name ?? '?');
    const started = e.activityTaskStartedEventAttributes;
    if (started && (started.attempt ?? 1) > 1) {
      out.push(`${workflowId}: ${names.get(String(started.scheduledEventId))} attempt ${started.attempt} (${started.lastFailure?.message ?? ''})`);
    }
    if (e.activityTaskFailedEventAttributes) out.push(`${workflowId}: activity failed: ${e.activityTaskFailedEventAttributes.failure?.message}`);
    if (e.activityTaskTimedOutEventAttributes) out.push(`${workflowId}: activity timed out`);
    if (e.childWorkflowExecutionFailedEventAttributes) out.push(`${workflowId}: child failed: ${e.childWorkflowExecutionFailedEventAttributes.failure?.message}`);
    const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    if (child) out.push(...(await failedAttempts(client, child)));
  }
  return out;
}

/** validatePipeline's comparison of a captured table (the catalog's spec), run here. */
export async function validateTable(pool: pg.Pool, ch: ClickHouseClient, source: string, key: string): Promise<ValidationReport> {
  const e = testEndpoints();
  const spec = await validationSpecFor(pool, source, e.groupPrefix);
  const acts = createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() });
  return new MockActivityEnvironment().run(acts.compareTable, { spec: { ...spec, buckets: 64, maxWaitMs: 120_000 }, reportKey: `${key}-${Date.now()}` });
}

/** Every column of every row, Postgres against ClickHouse's current state (`current`), as text. */
export async function sameRows(pool: pg.Pool, ch: ClickHouseClient, source: string, current: string, columns: string[]): Promise<void> {
  const byId = (a: Record<string, string | null>, b: Record<string, string | null>) => Number(a.id) - Number(b.id);
  // trim_scale: ClickHouse prints a Decimal without trailing zeros.
  const pgText = (c: string) => (c === 'price' ? `trim_scale(t.${c})::text` : `t.${c}::text`);
  const { rows: want } = await pool.query<Record<string, string | null>>(`select ${columns.map((c) => `${pgText(c)} as ${c}`).join(', ')} from ${source} t`);
  const have = await chRows<Record<string, string | null>>(
    ch,
    `SELECT ${columns.map((c) => `if(isNull(t.${c}), NULL, toString(t.${c})) AS ${c}`).join(', ')} FROM ${current} AS t FINAL WHERE t.is_deleted = 0`,
  );
  want.sort(byId);
  have.sort(byId);
  expect(have.length).toBe(want.length);
  const diff = want.flatMap((w, i) => (JSON.stringify(w) !== JSON.stringify(have[i]) ? [{ postgres: w, clickhouse: have[i] }] : []));
  expect(diff.slice(0, 3), `${diff.length} rows differ`).toEqual([]);
}
