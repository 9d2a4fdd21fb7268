/**
 * Capture gaps (clickhouse-ddl/130_capture_gaps.sql): per table, the WAL
 * stretch whose changes the pipeline did not capture after its replication
 * slot was lost or missing. Recorded by recoverPipeline, read by `tables
 * list`, the lag report, the monitor's page and dbt (fct_capture_gaps). One
 * module owns the table's name and shape.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { pipelineNames } from '../../shared/names.ts';
import { formatLsn } from '../../shared/lsn.ts';

export const captureGapsTable = `${pipelineNames.clickhouseDatabase}.capture_gaps`;

export interface CaptureGap {
  sourceTable: string;
  slot: string;
  reason: 'slot lost' | 'slot missing';
  /** Decimal LSNs, as `<t>_changes.lsn` holds them. */
  fromLsn: string;
  toLsn: string;
  /** ISO times; fromTime null when unknown. */
  fromTime: string | null;
  toTime: string;
  /** The resync's version after the gap; null until the table is reloaded. */
  reloadLsn: string | null;
  recoveredBy: string;
  recordedAt?: string;
}

const chTime = (iso: string) => iso.replace('T', ' ').replace(/Z$/, '');

/** Insert (or, same table and from_lsn, replace) gap rows. */
export async function recordGaps(ch: ClickHouseClient, gaps: CaptureGap[]): Promise<void> {
  if (gaps.length === 0) return;
  await ch.insert({
    table: captureGapsTable,
    format: 'JSONEachRow',
    values: gaps.map((g) => ({
      source_table: g.sourceTable,
      slot: g.slot,
      reason: g.reason,
      from_lsn: g.fromLsn,
      to_lsn: g.toLsn,
      from_time: g.fromTime === null ? null : chTime(g.fromTime),
      to_time: chTime(g.toTime),
      reload_lsn: g.reloadLsn,
      recovered_by: g.recoveredBy,
      recorded_at: chTime(new Date().toISOString()),
    })),
  });
}

interface GapRow {
  source_table: string;
  slot: string;
  reason: CaptureGap['reason'];
  from_s: string;
  to_s: string;
  from_time_s: string | null;
  to_time_s: string;
  reload_s: string | null;
  recovered_by: string;
  recorded_s: string;
}

const iso = (t: string) => `${t.replace(' ', 'T')}Z`;

/** Every recorded gap, newest first (optionally of some tables only). */
export async function readGaps(ch: ClickHouseClient, tables?: string[]): Promise<CaptureGap[]> {
  const rs = await ch.query({
    // Aliases unlike the columns: ClickHouse would sort by the text, not the LSN.
    query: `SELECT source_table, slot, reason, toString(from_lsn) AS from_s, toString(to_lsn) AS to_s, toString(from_time) AS from_time_s,
                   toString(to_time) AS to_time_s, toString(reload_lsn) AS reload_s, recovered_by, toString(recorded_at) AS recorded_s
              FROM ${captureGapsTable} FINAL
             ${tables ? 'WHERE source_table IN {tables:Array(String)}' : ''}
             ORDER BY to_lsn DESC, source_table`,
    query_params: tables ? { tables } : {},
    format: 'JSONEachRow',
  });
  return (await rs.json<GapRow>()).map((r) => ({
    sourceTable: r.source_table,
    slot: r.slot,
    reason: r.reason,
    fromLsn: r.from_s,
    toLsn: r.to_s,
    fromTime: r.from_time_s === null ? null : iso(r.from_time_s),
    toTime: iso(r.to_time_s),
    reloadLsn: r.reload_s,
    recoveredBy: r.recovered_by,
    recordedAt: iso(r.recorded_s),
  }));
}

/**
 * A resync of the table at `reloadLsn` repairs its gaps that end at or before it and were not
 * reloaded yet (recoverPipeline's own resync, or a later `npm run resync` after a recovery that
 * stopped half way): their rows name it. Returns how many.
 */
export async function markReloaded(ch: ClickHouseClient, source: string, reloadLsn: string): Promise<number> {
  const open = (await readGaps(ch, [source])).filter((g) => g.reloadLsn === null && BigInt(g.toLsn) <= BigInt(reloadLsn) + 1n);
  await recordGaps(ch, open.map((g) => ({ ...g, reloadLsn })));
  return open.length;
}

/** One line: what was not captured, when, and whether the table was reloaded since. */
export function gapText(g: CaptureGap): string {
  const when = g.fromTime ? `between ${g.fromTime} and ${g.toTime}` : `until ${g.toTime}`;
  const reload = g.reloadLsn === null ? `not reloaded yet: npm run resync -- ${g.sourceTable}` : `reloaded at ${formatLsn(g.reloadLsn)}`;
  return `changes committed after ${formatLsn(g.fromLsn)} and before ${formatLsn(g.toLsn)} (${when}) were not captured (${g.reason}); ${reload}`;
}
