/**
 * Publication membership and what Debezium needs of each captured table,
 * derived from the catalog: the publication holds exactly the active tables
 * plus the heartbeat and signal tables; each table gets REPLICA IDENTITY FULL (whole old
 * rows in the WAL: unchanged TOASTed values and before-images of deletes
 * arrive) and SELECT for the CDC role (the initial snapshot reads it).
 *
 * Partitioned tables: the publication publishes through the partition root
 * (publish_via_partition_root), so every partition's changes, those of
 * partitions attached later included, arrive as the root table's: one topic,
 * one set of ClickHouse objects. The old row of an update or delete comes from
 * the partition's own replica identity, so every partition gets FULL too
 * (setup again after attaching a partition).
 *
 * TRUNCATE: Debezium skips it by default (skipped.operations) and
 * ExtractNewRecordState drops truncate events in any case, so ClickHouse would
 * silently keep every row. Each captured table (and each partition) gets a
 * BEFORE TRUNCATE trigger that refuses it with the reason and what to do.
 */
import type pg from 'pg';
import type { SourceTable } from './introspect.ts';
import { pipelineNames } from '../shared/names.ts';

const CDC_ROLE = 'astros_cdc';
const TRUNCATE_GUARD = 'astros_refuse_truncate';

const guardFunctionSql = `create or replace function public.${TRUNCATE_GUARD}() returns trigger language plpgsql as $$
begin
  raise exception 'TRUNCATE of %.% is refused: the table is captured by the CDC pipeline and a TRUNCATE would not reach ClickHouse', tg_table_schema, tg_table_name
    using hint = 'DELETE the rows instead (every delete reaches ClickHouse), or stop capturing the table first (npm run catalog, then npm run setup).',
          errcode = 'feature_not_supported';
end
$$`;

function qualified(source: string): string {
  return source
    .split('.')
    .map((p) => `"${p.replaceAll('"', '""')}"`)
    .join('.');
}

export class PrivilegeNeeded extends Error {
  override name = 'PrivilegeNeeded';
}

async function run(db: pg.Pool | pg.Client, sql: string, why: string): Promise<void> {
  try {
    await db.query(sql);
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (e.code === '42501') throw new PrivilegeNeeded(`${why}: ${e.message}. Run as the table's owner or a superuser:\n  ${sql};`, { cause: err });
    throw err;
  }
}

export async function syncPublication(db: pg.Pool | pg.Client, tables: SourceTable[], log: (m: string) => void): Promise<void> {
  const pub = pipelineNames.publication;
  const { rows } = await db.query<{ name: string }>(`select schemaname || '.' || tablename as name from pg_publication_tables where pubname = $1`, [pub]);
  const have = new Set(rows.map((r) => r.name));
  const want = new Set([...tables.map((t) => t.source), pipelineNames.heartbeatTable, pipelineNames.signalTable]);
  const [options] = (await db.query<{ viaroot: boolean }>(`select pubviaroot as viaroot from pg_publication where pubname = $1`, [pub])).rows;
  if (options && !options.viaroot) {
    await run(db, `alter publication ${pub} set (publish_via_partition_root = true)`, `publication ${pub} must publish partitions as their root table`);
    log(`publication ${pub}: publish_via_partition_root = true`);
  }
  if (tables.length > 0) await run(db, guardFunctionSql, 'the TRUNCATE guard function');
  for (const t of tables) {
    // The table itself and, for a partitioned table, every partition below it.
    const { rows: parts } = await db.query<{ name: string; replident: string; guarded: boolean }>(
      `select c.oid::regclass::text as name, c.relreplident::text as replident,
              exists (select 1 from pg_trigger g where g.tgrelid = c.oid and g.tgname = $2) as guarded
         from pg_class c where c.oid = $1::regclass or c.oid in (select relid from pg_partition_tree($1::regclass))`,
      [qualified(t.source), TRUNCATE_GUARD],
    );
    for (const part of parts) {
      if (part.replident !== 'f') {
        await run(db, `alter table ${part.name} replica identity full`, `${part.name} needs REPLICA IDENTITY FULL`);
        log(`${part.name}: replica identity set to FULL`);
      }
      if (!part.guarded) {
        await run(
          db,
          `create trigger ${TRUNCATE_GUARD} before truncate on ${part.name} for each statement execute function public.${TRUNCATE_GUARD}()`,
          `${part.name} must refuse TRUNCATE`,
        );
        log(`${part.name}: TRUNCATE refused (trigger ${TRUNCATE_GUARD})`);
      }
    }
    const role = await db.query(`select 1 from pg_roles where rolname = $1`, [CDC_ROLE]);
    if (role.rowCount) {
      await run(db, `grant usage on schema "${t.schema}" to ${CDC_ROLE}`, `the CDC role must reach schema ${t.schema}`);
      await run(db, `grant select on ${qualified(t.source)} to ${CDC_ROLE}`, `the CDC role must read ${t.source}`);
    }
  }
  for (const name of want) {
    if (have.has(name)) continue;
    await run(db, `alter publication ${pub} add table ${qualified(name)}`, `${name} must be in publication ${pub}`);
    log(`publication ${pub}: added ${name}`);
  }
  for (const name of have) {
    if (want.has(name)) continue;
    await run(db, `alter publication ${pub} drop table ${qualified(name)}`, `${name} is no longer captured`);
    log(`publication ${pub}: dropped ${name} (not in the catalog)`);
    const { rows: guarded } = await db.query<{ name: string }>(
      `select g.tgrelid::regclass::text as name from pg_trigger g
        where g.tgname = $2 and (g.tgrelid = $1::regclass or g.tgrelid in (select relid from pg_partition_tree($1::regclass)))`,
      [qualified(name), TRUNCATE_GUARD],
    );
    for (const g of guarded) await run(db, `drop trigger if exists ${TRUNCATE_GUARD} on ${g.name}`, `${g.name} is no longer captured`);
  }
}
