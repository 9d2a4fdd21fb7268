/**
 * Where the schema changes of a table are logged (activities/schema-changes.ts
 * reads them): in the pipeline's database for a table of a group reading it;
 * in the group's own source database for a group named in
 * ASTROS_GROUP_DATABASES, whose event triggers (db/init/30_schema_changes.sql,
 * installed there by the stack's superuser) write that database's own
 * public.cdc_ddl_log for the tables the apply listed in
 * public.cdc_source_tables (migrations 170 and 210). Log ids are per
 * database, so a change of such a database carries its group.
 *
 * A table dropped or renamed there is marked in cdc_source_tables (that
 * database has no catalog); reading its pending changes first carries the
 * mark into the catalog ('dropped', with the reason), as the pipeline
 * database's triggers mark it directly.
 */
import type pg from 'pg';
import { log } from '@temporalio/activity';
import { groupOf } from '../catalog/declaration.ts';
import { catalogEntries, isCaptured, setTableState, type CatalogEntry } from '../catalog/store.ts';
import type { Endpoints } from '../config/load.ts';
import { groupSource, sourcePoolAt } from '../connectors/postgres/sources.ts';

type Urls = Partial<Pick<Endpoints, 'groupDatabases'>>;

/** The activity's logger; stderr when called outside an activity (tests, scripts). */
function warn(message: string): void {
  try {
    log.warn(message);
  } catch {
    console.warn(message);
  }
}

export interface PendingChange {
  id: string;
  source: string;
  lsn: string;
  /** The group whose own source database logged it (absent: the pipeline's database). */
  group?: string;
}

/** The database whose DDL log holds a group's changes: its own (ASTROS_GROUP_DATABASES), else the pipeline's. */
export function logDatabase(pool: pg.Pool, env: Urls, group: string | undefined): pg.Pool {
  return groupSource(env, group, pool);
}

/** The group whose own database logs the table's changes; undefined when the pipeline's database does. */
export function logGroupOf(env: Urls, entry: CatalogEntry | undefined): string | undefined {
  const group = entry === undefined ? undefined : groupOf(entry.declaration);
  return group !== undefined && env.groupDatabases?.[group] !== undefined ? group : undefined;
}

/** A table whose changes wait (a blocked table's until it is resumed; a dropped or removed one's are moot). */
const waits = (state: string) => state === 'blocked' || !isCaptured(state as CatalogEntry['state']);

const PENDING = `select id::text as id, source, (lsn - '0/0')::text as lsn from public.cdc_ddl_log
                  where status = 'pending' and source = any($1::text[]) order by id limit 100`;

/** Carries the drop and rename marks of the group's database into the catalog; the marks are then consumed. */
async function carryDropped(pool: pg.Pool, db: pg.Pool, group: string, entries: CatalogEntry[]): Promise<void> {
  const { rows } = await db.query<{ source: string; last_error: string | null }>(
    `select source, last_error from public.cdc_source_tables where group_name = $1 and state = 'dropped'`,
    [group],
  );
  for (const r of rows) {
    const entry = entries.find((e) => e.declaration.source === r.source);
    if (entry && isCaptured(entry.state)) {
      await setTableState(pool, r.source, 'dropped', r.last_error);
      entry.state = 'dropped';
    }
    await db.query(`delete from public.cdc_source_tables where source = $1 and state = 'dropped'`, [r.source]);
  }
}

/**
 * The pending changes of the groups reading their own database, each database's in its log order. A
 * database that cannot be read now is skipped with a warning (the next poll tries again): the other
 * databases' changes are not held back by it.
 */
export async function pendingInGroupDatabases(pool: pg.Pool, env: Urls, tables: string[] | undefined): Promise<PendingChange[]> {
  const out: PendingChange[] = [];
  const groups = Object.entries(env.groupDatabases ?? {});
  if (groups.length === 0) return out;
  const entries = await catalogEntries(pool);
  for (const [group, url] of groups) {
    const mine = entries.filter((e) => groupOf(e.declaration) === group && (tables === undefined || tables.includes(e.declaration.source)));
    if (!mine.some((e) => isCaptured(e.state))) continue;
    const db = sourcePoolAt(url);
    try {
      const ready = await db.query<{ ok: boolean }>(`select to_regclass('public.cdc_ddl_log') is not null and to_regclass('public.cdc_source_tables') is not null as ok`);
      if (!ready.rows[0]?.ok) continue;
      await carryDropped(pool, db, group, mine);
      const sources = mine.filter((e) => !waits(e.state)).map((e) => e.declaration.source);
      if (sources.length === 0) continue;
      const { rows } = await db.query<PendingChange>(PENDING, [sources]);
      out.push(...rows.map((r) => ({ ...r, group })));
    } catch (err) {
      warn(`group ${group}: the schema changes of its database were not read this time: ${(err as Error).message}`);
    }
  }
  return out;
}
