/**
 * What `astros tables list` shows of each table of the live catalog: its
 * state (and why for a blocked or dropped one), live rows in ClickHouse,
 * lag, last validation, the newest capture gap; and whether the replication
 * slot can be read at all.
 */
import { groupOf } from '../catalog/declaration.ts';
import { isCaptured, catalogEntries } from '../catalog/store.ts';
import { tableRetention } from '../catalog/retention.ts';
import type { Endpoints } from '../config/load.ts';
import { lagReport } from '../activities/lag-report.ts';
import { createClickHouse, type ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { gapText, readGaps } from '../connectors/clickhouse/capture-gaps.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';
import { withPostgres, type Queryable } from '../connectors/postgres/pool.ts';
import { slotProblem, slotState, type SlotState } from '../connectors/postgres/slots.ts';
import { formatAge } from '../shared/duration.ts';
import { groupNames, tableNames } from '../shared/names.ts';

export interface TableRow {
  source: string;
  /** The table group it streams through (its publication, slot and connector). */
  group: string;
  state: string;
  origin: string;
  rows: number | null;
  lag: string;
  lastValidation: string;
  error?: string | null;
  /** A blocked table: since when, and how long its topic still keeps the events it has not applied. */
  blocked?: { since: string; keptFor: string };
  /** A table Postgres no longer has under its name (dropped or renamed): since when. */
  dropped?: { since: string };
  /** A captured table while its group's replication slot is lost or missing: the failure, with the fix. */
  notCapturing?: string;
  /** The newest capture gap recorded for the table (astros.capture_gaps), in words. */
  captureGap?: string;
}

/** Each table of the live catalog with its state, live rows in ClickHouse, lag and last validation. */
export async function tableRows(e: Endpoints, opts: { all?: boolean } = {}): Promise<TableRow[]> {
  const ch = createClickHouse(e.clickhouseUrl, { requestTimeoutMs: 30_000 });
  try {
    return await withPostgres(e.databaseUrl, 'astros-tables', (db) => rowsOf(db, ch, e, opts));
  } finally {
    await ch.close();
  }
}

async function rowsOf(db: Queryable, ch: ClickHouseClient, e: Endpoints, opts: { all?: boolean }): Promise<TableRow[]> {
  {
    const entries = (await catalogEntries(db)).filter((x) => opts.all || x.state !== 'removed');
    const names = entries.map((x) => tableNames(x.declaration.source, { groupPrefix: e.groupPrefix }));
    const captured = names.filter((_, i) => isCaptured(entries[i]!.state));
    const lag = await lagReport(
      { db, kafka: kafkaClient(e.kafkaBrokers, 'astros-tables'), clickhouse: ch },
      { groupPrefix: e.groupPrefix, ...(e.clickhouseCluster ? { clickhouseCluster: e.clickhouseCluster } : {}), tables: captured.map((n) => ({ topic: n.topic, group: n.group, table: n.current })) },
    ).catch(() => undefined);
    const slots = new Map<string, SlotState>();
    for (const g of new Set(entries.map((x) => groupOf(x.declaration)))) slots.set(g, await slotState(db, groupNames(g).slot));
    const gaps = await readGaps(ch, entries.map((x) => x.declaration.source)).catch(() => []);
    const { rows: reports } = await db.query<{ source_table: string; outcome: string; finished_at: Date; summary: string }>(
      `select distinct on (source_table) source_table, outcome, finished_at, summary from validation_reports order by source_table, finished_at desc`,
    );
    const out: TableRow[] = [];
    for (const [i, x] of entries.entries()) {
      const n = names[i]!;
      const rows = await ch
        .query({ query: `SELECT count() AS n FROM ${n.current} FINAL WHERE is_deleted = 0`, format: 'JSONEachRow' })
        .then(async (rs) => Number((await rs.json<{ n: string }>())[0]?.n ?? 0))
        .catch(() => null);
      const k = lag?.kafka.find((r) => r.topic === n.topic);
      const ckh = lag?.clickhouse.find((r) => r.table === n.current);
      const v = reports.find((r) => r.source_table === x.declaration.source);
      const gap = gaps.find((g) => g.sourceTable === x.declaration.source);
      const notCapturing = slotProblem(slots.get(groupOf(x.declaration))!);
      out.push({
        source: x.declaration.source,
        group: groupOf(x.declaration),
        state: x.state,
        origin: x.origin,
        rows,
        lag: !isCaptured(x.state) ? '-' : k ? `${k.lag} msg${ckh?.newestCommit ? `, newest commit ${ckh.newestCommit}` : ''}` : 'n/a',
        lastValidation: v ? `${v.outcome} ${v.finished_at.toISOString()}` : 'never',
        ...(x.lastError ? { error: x.lastError } : {}),
        ...(notCapturing && isCaptured(x.state) ? { notCapturing } : {}),
        ...(gap ? { captureGap: gapText(gap) } : {}),
        ...(x.state === 'blocked'
          ? { blocked: { since: x.updatedAt, keptFor: formatAge(tableRetention(x.declaration.retention, e.retention).topicMs - (Date.now() - Date.parse(x.updatedAt))) } }
          : {}),
        ...(x.state === 'dropped' ? { dropped: { since: x.updatedAt } } : {}),
      });
    }
    return out;
  }
}

