/**
 * The catalog on the real stack: a ClickHouse database built by the first,
 * hand-written DDL (test/fixtures/legacy-clickhouse-ddl.sql, what
 * clickhouse-ddl/010-030 created) is adopted — its queue, views, change log
 * (now the per-message record) and current state kept as they are, same
 * consumer groups, nothing re-read; it gains the deduplicated change log
 * `<t>_changes`, fed from the record and backfilled once — and a fresh
 * database built from the catalog ends with the same objects. Each side has its own database and
 * consumer groups on the pipeline's real topics.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import { statements } from '../../connectors/clickhouse/migrate.ts';
import { deriveOptions, deriveTables, reconcileClickHouse, type CapturedTable } from '../../catalog/derive.ts';
import { validationSpec } from '../../catalog/validation-spec.ts';
import { chRows, clickhouse, postgres, repoRoot, testEndpoints, uniqueTag, waitFor, testKafka } from './helpers.ts';

const tag = uniqueTag('cat').replace(/[^a-z0-9_]/g, '_');
const legacy = { db: `legacy_${tag}`, groups: `legacy-${tag}` };
const fresh = { db: `fresh_${tag}`, groups: `fresh-${tag}` };
const sources = ['public.astronauts', 'public.cdc_types_probe'];
let ch: ClickHouseClient;
let pool: pg.Pool;

beforeAll(async () => {
  ch = clickhouse();
  pool = postgres();
});

afterAll(async () => {
  for (const db of [legacy.db, fresh.db]) await ch.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` }).catch(() => undefined);
  await pool.query(`delete from public.cdc_types_probe where probe_key like $1`, [`${tag}%`]).catch(() => undefined);
  await ch.close();
  await pool.end();
});

function tablesFor(side: { db: string; groups: string }): Promise<CapturedTable[]> {
  return deriveTables(
    pool,
    sources.map((source) => ({ source, exclude: [], columns: {} })),
    deriveOptions(testEndpoints(), { database: side.db, groupPrefix: side.groups }),
  );
}

/** Every object of a database, with the database and group names taken out, for comparing two sides. */
async function objectsOf(side: { db: string; groups: string }): Promise<Record<string, string>> {
  const rows = await chRows<{ name: string; q: string }>(ch, `SELECT name, create_table_query AS q FROM system.tables WHERE database = {db:String} ORDER BY name`, { db: side.db });
  return Object.fromEntries(rows.map((r) => [r.name, r.q.replaceAll(`${side.db}.`, 'DB.').replaceAll(side.groups, 'GROUP')]));
}

async function changelogCounts(db: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['astronauts_changelog', 'cdc_types_probe_changelog']) {
    const [r] = await chRows<{ n: string }>(ch, `SELECT count() AS n FROM ${db}.${t}`);
    out[t] = Number(r!.n);
  }
  return out;
}

async function caughtUp(db: string): Promise<void> {
  const [src] = await pool.query<{ n: string }>(`select count(*)::text as n from public.cdc_types_probe where probe_key like $1`, [`${tag}%`]).then((r) => r.rows);
  await waitFor(
    () => chRows<{ n: string }>(ch, `SELECT count() AS n FROM ${db}.cdc_types_probe FINAL WHERE startsWith(probe_key, {p:String})`, { p: tag }),
    (r) => r[0]?.n === src!.n,
    `${db} to have this test's probe rows`,
    120_000,
    500,
  );
}

describe('catalog adoption', () => {
  it('adopts a stack built by the first hand-written DDL as it is, and builds the same objects on a fresh one', { timeout: 420_000 }, async () => {
    const e = testEndpoints();
    // 1. A stack as the old migrations left it, with data.
    const sql = fs
      .readFileSync(path.join(repoRoot, 'test/fixtures/legacy-clickhouse-ddl.sql'), 'utf8')
      .replaceAll('{{DB}}', legacy.db)
      .replaceAll('{{KAFKA_BROKERS}}', e.kafkaBrokers.join(','))
      .replaceAll('{{SCHEMA_REGISTRY_URL}}', e.registryCcompatUrl)
      .replaceAll('{{KAFKA_GROUP_PREFIX}}', legacy.groups);
    for (const stmt of statements(sql)) await ch.command({ query: stmt });
    for (let i = 0; i < 5; i++) {
      await pool.query(`insert into public.cdc_types_probe (probe_key, label, amount, happened_at) values ($1, 'before', 1.5, now())`, [`${tag}_a${i}`]);
    }
    await caughtUp(legacy.db);
    const before = await changelogCounts(legacy.db);

    // 2. The catalog adopts it: no storage is changed (only column comments follow the generator, and the
    //    record and kafka_errors get their TTLs, after the backfill); each table gains <t>_changes, fed from
    //    the record and backfilled once from it; the probe's consumer is recreated with its consumer group
    //    because two of its view expressions were corrected (numeric <col>_text reads the queue's text;
    //    NaN/±Infinity spelled as Postgres spells them).
    const log: string[] = [];
    const plans = await reconcileClickHouse(ch, await tablesFor(legacy), (m) => log.push(m));
    const actions = plans.flatMap((p) => p.actions);
    const { retention } = e;
    expect(
      actions
        .filter((a) => a.kind !== 'comment')
        .map((a) => `${a.kind} ${a.object}${a.kind === 'feed-changes' ? ` backfill=${a.backfill}` : ''}`)
        .sort(),
      log.join('\n'),
    ).toEqual(
      [
        ...['astronauts', 'cdc_types_probe'].flatMap((t) => [
          `create ${legacy.db}.${t}_changes`,
          `feed-changes ${legacy.db}.${t}_changes backfill=true`,
          ...(retention.changelogMs > 0 ? [`ttl ${legacy.db}.${t}_changelog`] : []),
        ]),
        ...(retention.errorsMs > 0 ? [`ttl ${legacy.db}.kafka_errors`] : []),
        `recreate-consumer ${legacy.db}.cdc_types_probe_queue`,
      ].sort(),
    );
    const again = await reconcileClickHouse(ch, await tablesFor(legacy), () => undefined);
    expect(again.flatMap((p) => p.actions)).toEqual([]);

    // Nothing was re-read: the change log holds what it held, and new changes arrive once.
    await pool.query(`update public.cdc_types_probe set label = 'after' where probe_key like $1`, [`${tag}_a%`]);
    await pool.query(`insert into public.cdc_types_probe (probe_key, label) values ($1, 'after')`, [`${tag}_b`]);
    await waitFor(
      () => chRows<{ n: string }>(ch, `SELECT count() AS n FROM ${legacy.db}.cdc_types_probe FINAL WHERE startsWith(probe_key, {p:String}) AND label = 'after'`, { p: tag }),
      (r) => r[0]?.n === '6',
      'the changes made after adoption',
    );
    const [mine] = await chRows<{ n: string; k: string }>(
      ch,
      `SELECT count() AS n, uniqExact(probe_key, lsn) AS k FROM ${legacy.db}.cdc_types_probe_changelog WHERE startsWith(probe_key, {p:String})`,
      { p: tag },
    );
    expect(mine).toEqual({ n: '11', k: '11' }); // 5 inserts + 5 updates + 1 insert, each once: nothing re-read
    expect((await changelogCounts(legacy.db)).cdc_types_probe_changelog).toBe(before.cdc_types_probe_changelog! + 6);
    // The deduplicated change log holds every change of the record once: what was there before adoption
    // (backfilled) and what came after (fed from the record).
    for (const t of ['astronauts', 'cdc_types_probe']) {
      const key = t === 'astronauts' ? 'person_key' : 'probe_key';
      const [r] = await chRows<{ record: string; changes: string; once: string }>(
        ch,
        `SELECT (SELECT uniqExact(${key}, lsn) FROM ${legacy.db}.${t}_changelog) AS record,
                (SELECT count() FROM ${legacy.db}.${t}_changes FINAL) AS changes,
                (SELECT uniqExact(${key}, lsn) FROM ${legacy.db}.${t}_changes) AS once`,
      );
      expect(r, t).toEqual({ record: r!.record, changes: r!.record, once: r!.record });
    }
    // Validation agrees on the adopted copy (the whole table, against Postgres at one LSN).
    const [probe] = (await tablesFor(legacy)).filter((t) => t.declaration.source === 'public.cdc_types_probe');
    const acts = createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() });
    const report: ValidationReport = await new MockActivityEnvironment().run(acts.compareTable, { spec: { ...validationSpec(probe!.declaration, probe!.source, probe!.objects.names), buckets: 64 }, reportKey: `catalog-${tag}` });
    expect(report.outcome, report.summary).toBe('agree');

    // 3. A fresh database from the catalog ends with the same objects.
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${fresh.db}` });
    await ch.command({ query: `CREATE TABLE ${fresh.db}.kafka_errors AS ${legacy.db}.kafka_errors` });
    const created = await reconcileClickHouse(ch, await tablesFor(fresh), () => undefined);
    expect(created.flatMap((p) => p.actions.map((a) => a.kind)).sort()).toEqual([...Array<string>(6).fill('create'), 'create-consumer', 'create-consumer', 'feed-changes', 'feed-changes']);
    expect(created.flatMap((p) => p.actions).some((a) => a.kind === 'feed-changes' && a.backfill)).toBe(false); // nothing to copy on a fresh stack
    expect(await objectsOf(fresh)).toEqual(await objectsOf(legacy));
    await caughtUp(fresh.db);
  });
});
