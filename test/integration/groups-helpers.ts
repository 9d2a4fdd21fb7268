/**
 * What the table-group tests share (test/integration/groups.test.ts: a group
 * in the pipeline's database; groups-databases.test.ts: a group reading a
 * second database): the CLI on the test's task queue, validation of a table
 * through its group's database, slot and probe checks, and the cleanup that
 * takes a group down when a failed run left it.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { createValidationActivities } from '../../activities/validation/activities.ts';
import { retireGroup } from '../../activities/retire-group.ts';
import { validationSpecFor } from '../../catalog/validation-spec.ts';
import { dropInactiveSlot } from '../../connectors/postgres/slots.ts';
import { groupNames } from '../../shared/names.ts';
import type { ValidationReport } from '../../shared/validation.ts';
import { chRows, runCommand, testConnect, testEndpoints, testKafka, waitFor } from './helpers.ts';

/** The default group's table every test writes probe rows into. */
export const probe = 'public.cdc_types_probe';

/** The CLI against the test's own worker (its task queue). */
export const cliOn =
  (taskQueue: string) =>
  (...args: string[]) =>
    runCommand('npx', ['tsx', 'cli/astros.ts', ...args], { TASK_QUEUE: taskQueue, FORCE_COLOR: '0' });

/** A command's --json output (after any progress lines). */
export const json = <T>(text: string): T => JSON.parse(text.slice(text.indexOf('['))) as T;

export const lsn = (text: string): bigint => {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
};

/** Validates a table, its rows read through its group's database (`sourceOf`), caught up at its group's slot. */
export async function validateTable(pool: pg.Pool, ch: ClickHouseClient, source: string, reportKey: string, sourceOf?: (group: string) => pg.Pool): Promise<ValidationReport> {
  const spec = await validationSpecFor(pool, source, testEndpoints().groupPrefix, sourceOf);
  const acts = createValidationActivities({ pool, clickhouse: ch, kafka: testKafka(), endpoints: testEndpoints() });
  return new MockActivityEnvironment().run(acts.compareTable, { spec: { ...spec, buckets: 64, maxWaitMs: 120_000 }, reportKey: `${reportKey}-${Date.now()}` });
}

/** Whether the slot exists on `db`'s server. */
export const slotExists = async (db: pg.Pool, slot: string): Promise<boolean> => ((await db.query(`select 1 from pg_replication_slots where slot_name = $1`, [slot])).rowCount ?? 0) > 0;

/** Until the default group's probe row `key` is in ClickHouse. */
export const probeArrived = (ch: ClickHouseClient, key: string) =>
  waitFor(() => chRows<{ n: string }>(ch, `SELECT count() AS n FROM astros.cdc_types_probe FINAL WHERE probe_key = {k:String}`, { k: key }), (r) => r[0]?.n === '1', `probe row ${key}`);

/** A group left by a failed run would keep its slot (and WAL) on the shared stack: retired, or else taken down without waiting. */
export async function takeDownGroup(db: pg.Pool, group: string): Promise<void> {
  const connect = testConnect();
  const g = groupNames(group);
  await retireGroup(db, connect, group, () => undefined, 30_000).catch(async (err: unknown) => {
    console.log(`[groups] cleanup: ${String(err)}; removing the group's connector, slot and publication without waiting`);
    await connect.remove(g.connector).catch(() => undefined);
    await waitFor(() => dropInactiveSlot(db, g.slot).then(async (dropped) => dropped || !(await slotExists(db, g.slot))), (done) => done, `slot ${g.slot} dropped`, 60_000, 500).catch(() => undefined);
    await db.query(`drop publication if exists ${g.publication}`).catch(() => undefined);
  });
}
