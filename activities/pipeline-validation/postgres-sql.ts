/** Postgres' side of the canonical row (canonical.ts): catalog, row, bucket and drill-down SQL. Pure, no I/O. */
import { integerKey, lengthPrefixed, type ColumnPlan, type TablePlan, type ValueKind } from './canonical.ts';
import { pgTransformed } from './transforms.ts';

export const pgIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Columns of the table named by $1 (a regclass text) with their types and primary-key membership. */
export const pgColumnsSql = `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
            coalesce(a.attnum = any(i.indkey), false) as pk
       from pg_attribute a
       left join pg_index i on i.indrelid = a.attrelid and i.indisprimary
      where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
      order by a.attnum`;

function pgValue(col: string, kind: ValueKind): string {
  const c = pgIdent(col);
  switch (kind) {
    case 'timestamp':
      // extract(epoch) is numeric (exact) since PG 14
      return `(extract(epoch from ${c}) * 1000000)::bigint::text`;
    case 'date':
      return `to_char(${c}, 'YYYY-MM-DD')`;
    case 'numeric':
      return `trim_scale(${c})::text`;
    case 'boolean':
      return `(${c})::int::text`;
    case 'text':
      return `${c}::text`;
    default:
      return `${c}::text`;
  }
}

function pgEncoded({ name: col, kind, transform }: ColumnPlan): string {
  const v = transform ? pgTransformed(pgValue(col, kind), transform) : pgValue(col, kind);
  return lengthPrefixed(kind) ? `coalesce(octet_length(${v})::text || ':' || ${v}, 'N')` : `coalesce(${v}, 'N')`;
}

const joinPg = (parts: string[]): string => (parts.length === 0 ? `''` : parts.join(` || '|' || `));

/** Inner Postgres query: canonical key k, bucket b and row hash h of every row. */
export function pgRowsSql(p: TablePlan): string {
  const k = joinPg(p.key.map(pgEncoded));
  const r = joinPg(p.columns.map(pgEncoded));
  const ik = integerKey(p);
  const n = p.buckets;
  const b = ik ? `(((${pgIdent(ik.name)}::bigint % ${n}) + ${n}) % ${n})::int` : `(('x' || substr(md5(${k}), 1, 8))::bit(32)::bigint % ${n})::int`;
  return `select k, b, ('x' || substr(md5(k || '#' || r), 1, 16))::bit(64)::bigint as h
from (select ${k} as k, ${r} as r, ${b} as b from ${p.pgTable}) rows`;
}

export function pgBucketsSql(p: TablePlan): string {
  return `select b as bucket, count(*)::int as rows, sum(h)::text as sum from (${pgRowsSql(p)}) hashed group by b`;
}

export function pgDrillSql(p: TablePlan): string {
  return `select k, h::text as h from (${pgRowsSql(p)}) hashed where b = any($1::int[])`;
}
