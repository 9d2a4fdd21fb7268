/**
 * The source database of each table group: a group named in
 * ASTROS_GROUP_DATABASES reads its own database (config/load.ts
 * groupDatabaseUrl); every other group reads the pipeline's, through the
 * caller's own connection. One pool per source database, made on first use
 * and shared by the process; idle pools never keep a command from exiting.
 */
import pg from 'pg';
import type { Config } from '../../config/load.ts';
import type { Queryable } from '../../catalog/db.ts';
import { migrate } from './migrate.ts';
import { survivePostgresRestarts } from './pool.ts';

/** Only the groups named in ASTROS_GROUP_DATABASES read a database of their own. */
type Urls = Partial<Pick<Config, 'groupDatabases'>>;

const pools = new Map<string, pg.Pool>();

/** The pool of a source database by URL (made once per process). */
export function sourcePoolAt(url: string): pg.Pool {
  let pool = pools.get(url);
  if (!pool) {
    pool = survivePostgresRestarts(new pg.Pool({ connectionString: url, max: 4, application_name: 'astros-source', allowExitOnIdle: true, connectionTimeoutMillis: 10_000 }));
    pools.set(url, pool);
  }
  return pool;
}

/** A group's source database: `own` (the pipeline's connection) unless the group reads another database. */
export function groupSource<Q extends Queryable>(e: Urls, group: string | undefined, own: Q): Q | pg.Pool {
  const url = group === undefined ? undefined : e.groupDatabases?.[group];
  return url === undefined ? own : sourcePoolAt(url);
}

/** Ends every source pool this process made (a long-lived process shutting down). */
export async function closeSourcePools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.end().catch(() => undefined)));
}

/**
 * What a group's capture needs of its own source database, besides what its superuser prepares
 * (db/init/20_grants.sql and 30_schema_changes.sql, run there by the stack: stack/components/postgres.ts):
 * the DDL log its event triggers write, the group heartbeat table its connector writes, the list of the
 * tables those triggers follow. Applied by the same runner as the pipeline's migrations, recorded in
 * that database's schema_migrations: idempotent.
 */
export const SOURCE_DATABASE_MIGRATIONS = ['170_schema_change_log.sql', '190_group_heartbeat.sql', '210_source_tables.sql'] as const;

const prepared = new Set<string>();

export async function prepareSourceDatabase(e: Urls, group: string, log: (m: string) => void): Promise<void> {
  const url = e.groupDatabases?.[group];
  if (url === undefined || prepared.has(url)) return;
  const r = await migrate({ databaseUrl: url, only: SOURCE_DATABASE_MIGRATIONS, log });
  prepared.add(url);
  if (r.applied.length > 0) log(`group ${group}: its source database ${new URL(url).pathname.slice(1)} prepared (${r.applied.join(', ')})`);
}

/**
 * Records in the pipeline's database which groups read another one (migration 200), as configured now:
 * its schema-change triggers leave a table of such a group alone (db/init/30_schema_changes.sql).
 */
export async function recordGroupsElsewhere(db: Queryable, e: Urls): Promise<void> {
  const entries = Object.entries(e.groupDatabases ?? {}).map(([group, url]) => [group, decodeURIComponent(new URL(url).pathname.slice(1))]);
  await db.query(`delete from public.cdc_groups_elsewhere where not (group_name = any($1::text[]))`, [entries.map(([g]) => g)]);
  for (const [group, database] of entries) {
    await db.query(
      `insert into public.cdc_groups_elsewhere (group_name, source_database) values ($1, $2)
       on conflict (group_name) do update set source_database = excluded.source_database, recorded_at = now() where cdc_groups_elsewhere.source_database <> excluded.source_database`,
      [group, database],
    );
  }
}

/**
 * The tables a group reading its own database captures, listed there for that database's schema-change
 * triggers (migration 210). A table the triggers marked 'dropped' keeps its mark until the schema-change
 * watch has carried it to the catalog (activities/schema-change-sources.ts).
 */
export async function listSourceTables(db: Queryable, group: string, sources: string[]): Promise<void> {
  await db.query(`delete from public.cdc_source_tables where group_name = $1 and not (source = any($2::text[]))`, [group, sources]);
  await db.query(
    `insert into public.cdc_source_tables (source, group_name) select unnest($2::text[]), $1
     on conflict (source) do update set group_name = excluded.group_name, updated_at = now() where cdc_source_tables.group_name <> excluded.group_name`,
    [group, sources],
  );
}

/** A logical replication slot of a group's own source database. */
export interface SourceSlot {
  slot: string;
  walStatus: string | null;
  active: boolean;
  confirmedFlushLsn: string | null;
}

/**
 * The logical slots of the groups' own source databases (ASTROS_GROUP_DATABASES), each read through that
 * database's connection: a group on another server has its slot there, where DATABASE_URL's connection
 * cannot see it. Slots named in `known` (already read through the pipeline's connection) are left out; a
 * database that does not answer is left out too (its group's slot then reads as missing, which it is to
 * the pipeline). `poolAt` is the connection of a URL (tests pass their own).
 */
export async function groupDatabaseSlots(e: Urls, known: readonly string[], poolAt: (url: string) => Queryable = sourcePoolAt): Promise<SourceSlot[]> {
  const out: SourceSlot[] = [];
  const seen = new Set(known);
  for (const url of new Set(Object.values(e.groupDatabases ?? {}))) {
    const rows = await poolAt(url)
      .query<{ slot_name: string; wal_status: string | null; active: boolean; confirmed: string | null }>(
        `select slot_name, wal_status, active, confirmed_flush_lsn::text as confirmed from pg_replication_slots
          where slot_type = 'logical' and database = current_database() order by slot_name`,
      )
      .then(
        (r) => r.rows,
        () => [],
      );
    for (const r of rows) {
      if (seen.has(r.slot_name)) continue;
      seen.add(r.slot_name);
      out.push({ slot: r.slot_name, walStatus: r.wal_status, active: r.active, confirmedFlushLsn: r.confirmed });
    }
  }
  return out;
}
