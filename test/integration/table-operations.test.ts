/**
 * Table operations beyond row changes, on a table of its own captured
 * through the catalog:
 *   - a partitioned table is captured as one table through its partition root,
 *     a partition attached mid-stream included; validation agrees afterwards;
 *   - TRUNCATE of a captured table (or of one of its partitions) is refused
 *     with the reason, so ClickHouse never silently keeps rows Postgres lost;
 *   - renamed while a writer inserts into it, the table stops at once, with
 *     the reason (catalog, DDL log, `tables list`), and every row committed
 *     before the rename arrives. (A drop: test/integration/monitor.test.ts.)
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTable } from '../../activities/validation/compare-table.ts';
import { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import { pipelineNames, tableNames } from '../../shared/names.ts';
import { tableRows } from '../../cli/table-rows.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { captureTable, chRows, clickhouse, dropCapturedTable, postgres, requireEnv, testEndpoints, uniqueTag, waitFor, testKafka } from './helpers.ts';

const tag = uniqueTag('part').replace(/[^a-z0-9_]/g, '_');
const table = `cdc_parted_${tag}`;
const source = `public.${table}`;
const renamed = `${source}_renamed`;
const names = tableNames(source, { groupPrefix: testEndpoints().groupPrefix });
let ch: ClickHouseClient;
let pool: pg.Pool;

beforeAll(async () => {
  ch = clickhouse();
  pool = postgres();
  await pool.query(`create table ${source} (id bigint not null, region text not null, note text, primary key (id, region)) partition by list (region)`);
  await pool.query(`create table ${table}_eu partition of ${source} for values in ('eu')`);
  await pool.query(`insert into ${source} values (1, 'eu', 'before capture')`);
  await captureTable({ source });
});

afterAll(async () => {
  await dropCapturedTable(pool, ch, source);
  await pool.query(`drop table if exists ${table}_us`).catch(() => undefined);
  await pool.query(`drop table if exists ${renamed}`).catch(() => undefined);
  await pool.query(`delete from public.cdc_ddl_log where source = $1`, [source]).catch(() => undefined);
  await ch.close();
  await pool.end();
});

const live = () => chRows<{ id: string; region: string; note: string | null }>(ch, `SELECT toString(id) AS id, region, note FROM ${names.current} FINAL WHERE is_deleted = 0 ORDER BY id`);

describe('a partitioned table', () => {
  it('is captured as one table through its root, a partition attached mid-stream included', { timeout: 240_000 }, async () => {
    await pool.query(`insert into ${source} values (2, 'eu', 'streamed')`);
    // Attached while the stream runs: created apart, filled, then attached (its rows were never published: not captured yet).
    await pool.query(`create table ${table}_us (like ${source} including all)`);
    await pool.query(`alter table ${source} attach partition ${table}_us for values in ('us')`);
    await pool.query(`insert into ${source} values (3, 'us', 'into the new partition'), (4, 'us', 'to be deleted')`);
    await pool.query(`update ${source} set note = 'moved to us', region = 'us' where id = 1`); // a move between partitions: delete + insert
    await pool.query(`delete from ${source} where id = 4`);
    await captureTable({ source }); // setup again after attaching: REPLICA IDENTITY FULL and the TRUNCATE guard on the new partition
    await pool.query(`update ${source} set note = 'updated after setup' where id = 3`);
    await waitFor(live, (r) => r.length === 3 && r.some((x) => x.note === 'updated after setup'), 'the partitioned rows in ClickHouse', 120_000, 500);
    const { rows } = await pool.query<{ id: string; region: string; note: string | null }>(`select id::text, region, note from ${source} order by id`);
    expect(await live()).toEqual(rows);
    const spec = await validationSpecFor(pool, source, testEndpoints().groupPrefix);
    const report = await compareTable({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() }, { spec: { ...spec, buckets: 4 }, reportKey: `parted-${tag}` });
    expect(report).toMatchObject({ outcome: 'agree', sourceRows: 3, targetRows: 3 });
    // One topic: the partitions have none of their own.
    const admin = new Kafka({ clientId: `parted-topics-${tag}`, brokers: requireEnv('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = await admin.listTopics().finally(() => admin.disconnect());
    expect(topics.filter((t) => t.includes(table))).toEqual([names.topic]);
  });

  it('refuses TRUNCATE of the table and of a partition, saying why and what to do instead', async () => {
    for (const target of [source, `public.${table}_us`]) {
      const err = await pool.query(`truncate ${target}`).then(
        () => null,
        (e: unknown) => e as { message: string; hint?: string; code?: string },
      );
      expect(err?.message).toMatch(/TRUNCATE of public\.cdc_parted_\w+ is refused: the table is captured by the CDC pipeline/);
      expect(err?.hint).toMatch(/DELETE the rows instead/);
      expect(err?.code).toBe('0A000');
    }
    expect((await pool.query(`select count(*)::int as n from ${source}`)).rows[0]).toEqual({ n: 3 });
  });
});

describe('a captured table renamed', () => {
  it('while a writer inserts: stopped at once with the reason; what came before arrives', { timeout: 180_000 }, async () => {
    const mark = (await pool.query<{ id: string }>(`select coalesce(max(id), 0)::text as id from public.cdc_ddl_log`)).rows[0]!.id;
    let committed = 0;
    let writerError = '';
    const writing = (async () => {
      for (let id = 50_000; ; id++) {
        try {
          await pool.query(`insert into ${source} values ($1, 'eu', 'written')`, [id]);
          committed++;
        } catch (err) {
          writerError = (err as Error).message;
          return;
        }
      }
    })();
    await waitFor(async () => committed, (n) => n >= 20, 'the writer to commit rows', 30_000, 50);
    await pool.query(`alter table ${source} rename to ${renamed.split('.')[1]}`);
    await writing;
    // The application moves to the new name; what it writes there is not captured, and the catalog says so.
    await pool.query(`insert into ${renamed} values (99999, 'eu', 'after the rename')`);
    const [state] = (await pool.query<{ state: string; last_error: string }>(`select state, last_error from public.captured_tables where source = $1`, [source])).rows;
    expect(state!.state).toBe('dropped');
    expect(state!.last_error).toMatch(
      new RegExp(`^${source.replace('.', '\\.')} was renamed to ${renamed.replace('.', '\\.')} in Postgres \\(at LSN [0-9A-F/]+\\): .*no longer captures it.*rename it back, then npm run tables -- add`),
    );
    const log = await pool.query<{ status: string; outcome: string }>(`select status, outcome from public.cdc_ddl_log where source = $1 and id > $2 order by id`, [source, mark]);
    expect(log.rows).toEqual([{ status: 'refused', outcome: state!.last_error }]);
    await waitFor(
      () => chRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM ${names.current} FINAL WHERE id >= 50000 AND id < 99999 AND is_deleted = 0`).then((r) => Number(r[0]!.n)),
      (n) => n === committed,
      `the ${committed} rows committed before the rename in ClickHouse`,
      60_000,
      500,
    );
    const row = (await tableRows(testEndpoints())).find((r) => r.source === source);
    expect(row).toMatchObject({ state: 'dropped', lag: '-', error: state!.last_error });
    const connector = await new KafkaConnect(testEndpoints().connectUrl).state(pipelineNames.connector);
    // Debezium keeps a relation it knows under its old name until its task restarts: the row written under the new name may still arrive.
    const [after] = await chRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM ${names.current} FINAL WHERE id = 99999`);
    console.log(
      `renamed with a writer running: ${committed} rows committed before the rename, all in ClickHouse; the writer then got "${writerError}"; ` +
        `the row inserted under the new name ${after!.n !== '0' ? "reached the old name's copy (the connector had not restarted)" : 'did not reach ClickHouse'}; ` +
        `tables list: ${row!.state}: ${row!.error}; connector running: ${connector.running}`,
    );
    expect(writerError).toMatch(/does not exist/);
  });
});
