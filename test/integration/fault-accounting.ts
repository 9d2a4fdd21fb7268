/**
 * The fault suites' accounting of a FaultWriter's changes in ClickHouse: how
 * often each (change_id, op) is in the table's record (every delivery) and in
 * its deduplicated change log read with FINAL, and the figures of one fault's
 * window of ids: committed, lost, visible twice, delivered twice (absorbed).
 * Shared by the one-machine suite (faults.test.ts) and the cluster's.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { CapturedTable } from '../../catalog/derive.ts';
import { FaultWriter } from './fault-writer.ts';
import { chRows } from './helpers.ts';

/** (change_id, op) -> deliveries, in the record or in the deduplicated change log read with FINAL. */
export async function changeEvents(ch: ClickHouseClient, t: CapturedTable, from: 'record' | 'changes'): Promise<Map<string, number>> {
  const table = from === 'record' ? t.objects.names.changelog : `${t.objects.names.changes} FINAL`;
  const rows = await chRows<{ e: string; n: string }>(ch, `SELECT concat(toString(change_id), ':', toString(op)) AS e, count() AS n FROM ${table} GROUP BY e`);
  return new Map(rows.map((r) => [r.e, Number(r.n)]));
}

/** How many distinct changes of the writer (ids from 1) up to `lastId` ClickHouse shows, and how many the writer committed. */
export async function shownUpTo(ch: ClickHouseClient, writer: FaultWriter, t: CapturedTable, lastId: number): Promise<{ have: number; want: number }> {
  const [r] = await chRows<{ n: string }>(ch, `SELECT uniqExact(change_id) AS n FROM ${t.objects.names.changes} WHERE change_id BETWEEN 1 AND {m:UInt64}`, { m: lastId });
  return { have: Number(r?.n ?? 0), want: writer.committed.filter((c) => c.id <= lastId).length };
}

export interface WindowFigures {
  committed: number;
  lost: number;
  'visible twice': number;
  'delivered twice (absorbed)': number;
}

/** The figures of the changes committed with ids in [firstId, lastId]. */
export function windowFigures(writer: FaultWriter, firstId: number, lastId: number, record: Map<string, number>, changes: Map<string, number>): WindowFigures {
  const mine = writer.committed.filter((c) => c.id >= firstId && c.id <= lastId);
  const expected = mine.flatMap(FaultWriter.events);
  return {
    committed: mine.length,
    lost: expected.filter((e) => !changes.has(e)).length,
    'visible twice': expected.filter((e) => (changes.get(e) ?? 0) > 1).length,
    'delivered twice (absorbed)': expected.filter((e) => (record.get(e) ?? 0) > 1).length,
  };
}
