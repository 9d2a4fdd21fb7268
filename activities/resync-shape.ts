/**
 * Whether a resync can still finish with the table's shape as it is now.
 *
 * A resync builds its shadow from the shape the catalog derives when it
 * starts, loads ranges with the shape derived at each range, and swaps with
 * `INSERT INTO shadow SELECT * FROM current` (columns by position). An ALTER
 * TABLE during the resync (or one not yet applied to ClickHouse when it
 * starts) breaks one of these: a range would insert a column the input table
 * lacks, the swap would copy rows of one shape into another ("Number of
 * columns doesn't match"). Retrying cannot help, so the resync stops at once
 * with the reason (activities/resync.ts returns it, workflows/resync-table.ts
 * decides), and a schema change folds the new shape in and reloads again.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { TableObjects } from '../catalog/object-types.ts';

async function columnsOf(ch: ClickHouseClient, t: TableObjects, table: string): Promise<{ name: string; type: string }[]> {
  const rs = await ch.query({
    query: 'SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position',
    query_params: { db: t.names.database, t: table.slice(t.names.database.length + 1) },
    format: 'JSONEachRow',
  });
  return rs.json<{ name: string; type: string }>();
}

const names = (cols: { name: string }[]): string => cols.map((c) => c.name).join(', ');
const typed = (cols: { name: string; type: string }[]): string => cols.map((c) => `${c.name} ${c.type}`).join(', ');

const notApplied = (t: TableObjects, have: string, want: string): string =>
  `${t.names.source} changed shape in Postgres: ClickHouse's copy has (${have}), the table now derives (${want}); ` +
  'its schema change is applied by watchSchemaChanges (npm run tables -- list), which reloads the table when it needs to';

/**
 * Before the shadow is made: the live copy's columns (names, in order) against what the catalog derives now.
 * Types may differ (a retyped column left as drift is what a resync repairs); names and order are what the swap copies by.
 */
export async function liveCopyBehind(ch: ClickHouseClient, t: TableObjects): Promise<string | undefined> {
  const live = await columnsOf(ch, t, t.current.name);
  if (live.length === 0) return undefined; // no copy yet: nothing to compare with
  return names(live) === names(t.current.columns) ? undefined : notApplied(t, names(live), names(t.current.columns));
}

/** During the load and before the swap: the shadow (made from the shape at the start) against the shape derived now, and the live copy against the shadow. */
export async function shadowOutdated(ch: ClickHouseClient, t: TableObjects): Promise<string | undefined> {
  const shadow = await columnsOf(ch, t, t.resync.shadow.name);
  if (shadow.length === 0) return undefined; // dropped (a retried step after the swap): the caller knows
  if (typed(shadow) !== typed(t.current.columns)) {
    return `${t.names.source} changed shape in Postgres while it was being reloaded: the load began with (${typed(shadow)}), the table now derives (${typed(t.current.columns)}); nothing was swapped`;
  }
  const live = await columnsOf(ch, t, t.current.name);
  return names(live) === names(shadow) ? undefined : notApplied(t, names(live), names(shadow));
}
