/**
 * A resync range's SQL on both sides (activities/resync.ts runs it): the
 * ClickHouse host pulls the range from Postgres itself, with the
 * `postgresql()` table function, as ClickHouse's own MaterializedPostgreSQL
 * does its initial load. Postgres renders each column as Debezium sends it
 * (load-encoding.ts) and ClickHouse reads the values (text, or typed where
 * that is exact: pgWireType) into the Null input
 * table shaped like the queue, whose view writes the shadow with the same
 * expressions streamed rows go through.
 *
 * Why these Postgres objects. `postgresql()` reads a table or view by name
 * and sends only plain comparisons of its columns with constants, so:
 * - A SQL function (`LANGUAGE sql STABLE`, body given as a string) holds the
 *   rendering. Its body records no dependency on the table, so an ALTER of a
 *   column is never refused because a resync runs; the planner inlines it, so
 *   a condition on its `__ctid` column becomes a TID range scan of the table.
 * - One view per range over it holds the range's `ctid` bounds. The bounds
 *   cannot be a WHERE sent from ClickHouse: ClickHouse sends the condition
 *   to Postgres but then applies it again to the rows, comparing the text
 *   '(10,1)' with '(8,0)' as strings, which drops rows.
 * Both are named after the table and the rendering (a changed shape gets new
 * ones), live in the source database's `public` schema, and are dropped when
 * the resync completes or is abandoned.
 */
import { createHash } from 'node:crypto';
import { ident } from './column-types.ts';
import type { TableObjects } from './object-types.ts';
import { needsIsoDateStyle, pgIdent, pgWireType, pgWireValue } from './load-encoding.ts';
import type { SourceTable } from './introspect.ts';
import type { ColumnTransform } from '../shared/validation.ts';
import type { BlockRange } from './resync-sql.ts';
import { LOADED_FIELDS } from './resync-sql.ts';

/** Where the ClickHouse host reaches the source database, as the worker's role. */
export interface PgAddress {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

const short = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

/** Every load object of one table starts with this (cleanup drops them by it). */
export const loadObjectPrefix = (source: string): string => `astros_load_${short(source)}_`;

export interface LoadSource {
  /** The rendering function (unqualified name, in `public`). */
  fn: string;
  /** CREATE FUNCTION; the caller makes it once (parallel ranges share it). */
  createFn: string;
  /** The range's view (unqualified name) and its CREATE OR REPLACE. */
  view: string;
  createView: string;
}

/** The function that renders every loaded column and the view of range `r` over it. */
export function loadSource(src: SourceTable, t: TableObjects, transforms: Record<string, ColumnTransform>, r: BlockRange): LoadSource {
  const cols = t.resync.loadColumns.map((name) => {
    const c = src.columns.find((s) => s.name === name);
    if (!c) throw new Error(`${src.source}: column ${name} is no longer in the table`);
    return { name, expr: pgWireValue(c, transforms[name]), type: pgWireType(c, transforms[name]), iso: needsIsoDateStyle(c, transforms[name]) };
  });
  const body = `select ctid, ${cols.map((c) => c.expr).join(', ')} from ${pgIdent(src.schema)}.${pgIdent(src.table)}`;
  const returns = ['__ctid tid', ...cols.map((c) => `${pgIdent(c.name)} ${c.type}`)].join(', ');
  const fn = `${loadObjectPrefix(src.source)}${short(returns + body)}`;
  const view = `${fn}_b${r.fromBlock}`;
  const where = [
    `__ctid >= '(${r.fromBlock},0)'::tid`,
    ...(r.toBlock === null ? [] : [`__ctid < '(${r.toBlock},0)'::tid`]),
    // Evaluated once per read (no column in it): a session whose DateStyle would change a rendering fails with this text.
    ...(cols.some((c) => c.iso) ? [`(current_setting('DateStyle') like 'ISO,%' or ('${dateStyleRefusal}' || current_setting('DateStyle'))::int = 0)`] : []),
  ].join(' and ');
  return {
    fn,
    // Dollar-quoted: the body's own quotes stay as they are (a tag no rendering contains).
    createFn: `create function public.${pgIdent(fn)}() returns table (${returns}) language sql stable as $astros_load$${body}$astros_load$`,
    view,
    createView: `create or replace view public.${pgIdent(view)} as select * from public.${pgIdent(fn)}() where ${where}`,
  };
}

/** The text a range read by a session whose DateStyle is not ISO fails with (a cast error carries it). */
export const dateStyleRefusal = 'resync reads timestamps in DateStyle ISO; this session has ';

/** A ClickHouse string literal. */
const chString = (s: string): string => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/**
 * The ClickHouse statement that loads a range: the view's rows, read by the ClickHouse host, into
 * the Null input table with the fields of a read (`r`) at version L. The password is in the text:
 * ClickHouse shows `postgresql()`'s as [HIDDEN] in its errors and logs; never log the statement.
 */
export function pullRangeSql(t: TableObjects, source: LoadSource, pg: PgAddress, lsnFloor: bigint): string {
  const now = 'toUnixTimestamp64Milli(now64(3))';
  const fields = [`'r'`, String(lsnFloor), now, now, 'NULL', `'false'`];
  const args = [`${pg.host}:${pg.port}`, pg.database, source.view, pg.user, pg.password, 'public'].map(chString).join(', ');
  // Postgres' columns arrive Nullable; a queue column that is not (a key, an array: a NULL array is
  // rendered '[]') takes the value as it is (ClickHouse casts no Nullable into an Array).
  const value = (name: string): string => (t.resync.input.columns.find((c) => c.name === name)?.type.startsWith('Nullable(') ? ident(name) : `assumeNotNull(${ident(name)})`);
  return `INSERT INTO ${t.resync.input.name} (${[...t.resync.loadColumns, ...LOADED_FIELDS].map(ident).join(', ')})
SELECT ${[...t.resync.loadColumns.map(value), ...fields].join(', ')}
FROM postgresql(${args})`;
}

/**
 * Settings of the range statement. optimize_on_insert=0: the shadow's ReplacingMergeTree would otherwise run each
 * inserted block through its replacing merge (~13 % of the host's CPU for the statement); a range holds each key once,
 * and a retried range's repeats are collapsed by merges and FINAL as they were.
 */
export const pullRangeSettings = { optimize_on_insert: 0 } as const;

/** Drops every load object of a table (views before the functions they read). */
export function dropLoadObjectsSql(source: string): string {
  const like = `${loadObjectPrefix(source).replaceAll('_', '\\_')}%`;
  return `do $$ declare o record; begin
  for o in select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'v' and c.relname like '${like}' loop
    execute format('drop view if exists public.%I', o.relname);
  end loop;
  for o in select p.proname from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname like '${like}' loop
    execute format('drop function if exists public.%I()', o.proname);
  end loop;
end $$`;
}
