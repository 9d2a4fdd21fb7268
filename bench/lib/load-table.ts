/**
 * The load scenario's source, public.bench_load: N rows generated in
 * Postgres, filled once and kept while N and the table's shape stay the same
 * (its comment records both), then vacuumed (hint bits, visibility map,
 * statistics) so every contender reads the same settled table.
 *
 * The bench connector captures it (resync acts only on a captured table), but
 * the fill is not streamed: the table leaves the bench publication while it
 * is filled, and logical decoding judges each change by the publication as it
 * was when the change was written. It is filled in chunks, the bench
 * connector's slot dropped first (bench/lib/fill-slots.ts says why).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { KafkaConnect } from '../../connectors/kafka-connect/client.ts';
import { fillChunkRows, releaseBenchSlot, waitForSlots } from './fill-slots.ts';
import { addToPublication, loadNames, loadTableDdl, names } from './objects.ts';

const table = `public.${loadNames.table}`;

const fillSql = `insert into ${table} (id, account_id, status, amount, quantity, paid, payload, note, created_at, updated_at, ship_date)
  select g, (g % 100000)::int, (array['new', 'paid', 'shipped', 'delivered', 'returned'])[1 + (g % 5)::int],
         ((g * 7919) % 10000000) / 100.0, (g % 20)::smallint, g % 3 <> 0, repeat(md5(g::text), 2),
         case when g % 4 = 0 then null else 'note ' || g end,
         timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
         timestamptz '2026-06-01 00:00:00+00' + g * interval '10 milliseconds',
         case when g % 10 = 0 then null else date '2026-01-01' + (g % 365)::int end
    from generate_series($1::bigint, $2::bigint) g`;

/** Changes whenever the table's definition or its generated rows do. */
const shape = createHash('sha256').update(loadTableDdl).update(fillSql).digest('hex').slice(0, 12);

/** What the table's comment says once it holds `rows` rows of this shape. */
export const loadMark = (rows: number): string => `bench load table ${shape}: ${rows} rows`;

/**
 * Make public.bench_load hold `rows` rows of the current shape, readable by
 * `readers` (the worker's role reads it for resync). Returns whether it was (re)filled.
 */
export async function ensureLoadRows(pool: pg.Pool, connect: KafkaConnect, rows: number, readers: string[], log: (m: string) => void): Promise<boolean> {
  const { rows: c } = await pool.query<{ comment: string | null }>(`select obj_description($1::regclass, 'pg_class') as comment`, [table]);
  const comment = c[0]?.comment ?? '';
  for (const r of readers) await pool.query(`grant select on ${table} to ${pgRole(r)}`);
  if (comment === loadMark(rows)) return false;
  if (comment !== '' && !comment.startsWith(`bench load table ${shape}:`)) {
    log(`[postgres] ${table}: its shape changed, re-created`);
    await pool.query(`drop table ${table}`);
    await pool.query(loadTableDdl);
    for (const r of readers) await pool.query(`grant select on ${table} to ${pgRole(r)}`);
  }
  log(`[postgres] ${table}: filling ${rows} rows (not streamed: out of ${names.publication} meanwhile)`);
  const t0 = Date.now();
  await pool.query(`do $$ begin
    if exists (select 1 from pg_publication_tables where pubname = '${names.publication}' and schemaname = 'public' and tablename = '${loadNames.table}') then
      alter publication ${names.publication} drop table ${table};
    end if;
  end $$`);
  await releaseBenchSlot(pool, connect, names, log);
  await pool.query(`truncate ${table}`);
  for (let from = 1; from <= rows; from += fillChunkRows) {
    await pool.query(fillSql, [from, Math.min(rows, from + fillChunkRows - 1)]);
    await waitForSlots(pool);
    if (rows > fillChunkRows) log(`[postgres] ${table}: ${Math.min(rows, from + fillChunkRows - 1)} of ${rows} rows`);
  }
  await pool.query(`vacuum (freeze, analyze) ${table}`);
  await waitForSlots(pool);
  await pool.query(`comment on table ${table} is '${loadMark(rows)}'`);
  await addToPublication(pool, loadNames.table);
  const { rows: size } = await pool.query<{ size: string }>(`select pg_size_pretty(pg_table_size($1::regclass)) as size`, [table]);
  log(`[postgres] ${table}: ${rows} rows, ${size[0]?.size} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return true;
}

/** The roles granted here come from the stack's own URLs; quoted all the same. */
const pgRole = (r: string): string => `"${r.replaceAll('"', '""')}"`;
