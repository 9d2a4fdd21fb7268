/** Postgres' side of the canonical row (canonical.ts): catalog, row, bucket and drill-down SQL. Pure, no I/O. */
import { baseTypeSql } from '../../catalog/introspect.ts';
import { integerKey, lengthPrefixed, type ColumnPlan, type TablePlan, type ValueKind } from './canonical.ts';
import { pgTransformed } from '../../catalog/transforms.ts';

export const pgIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Columns of the table named by $1 (a regclass text) with their types (a domain's base type) and primary-key membership. */
export const pgColumnsSql = `select a.attname as name, b.type,
            coalesce(a.attnum = any(i.indkey), false) as pk
       from pg_attribute a
       cross join lateral (${baseTypeSql('a.atttypid', 'a.atttypmod')}) b
       left join pg_index i on i.indrelid = a.attrelid and i.indisprimary
      where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
      order by a.attnum`;

const micros = (v: string) => `(${v} * 1000000)::bigint::text`;

/** The canonical text of expression `v` of this kind (canonical.ts). */
function pgValue(v: string, kind: ValueKind, element?: ValueKind): string {
  switch (kind) {
    case 'timestamp':
      // extract(epoch) is numeric (exact) since PG 14; ±infinity has no ClickHouse value (NULL there)
      return `case when isfinite(${v}) then ${micros(`extract(epoch from ${v})`)} end`;
    case 'date':
      // ClickHouse's Date32 holds 1900-01-01 .. 2299-12-31; other dates are NULL there
      return `case when ${v} between '1900-01-01' and '2299-12-31' then to_char(${v}, 'YYYY-MM-DD') end`;
    case 'time':
      return micros(`extract(epoch from ${v})`);
    case 'timetz':
      return micros(`extract(epoch from (${v} at time zone 'UTC')::time)`);
    case 'interval':
      return `(extract(year from ${v}) * 12 + extract(month from ${v}))::text || ',' || extract(day from ${v})::text || ',' || ${micros(`(extract(hour from ${v}) * 3600 + extract(minute from ${v}) * 60 + extract(second from ${v}))`)}`;
    case 'numeric':
      return `trim_scale(${v})::text`;
    case 'boolean':
      return `(${v})::int::text`;
    case 'float4':
    case 'float8':
      return `case when ${v} = 'NaN' then 'NaN' else encode(${kind}send(${v}), 'hex') end`;
    case 'bytea':
      return `encode(${v}, 'hex')`;
    case 'bpchar':
      // ::text would strip char(n)'s padding; its output function keeps it, as Debezium sends it
      return `(textin(bpcharout(${v})))`;
    case 'array':
      // A NULL array arrives in ClickHouse as [] (it has no Nullable(Array)): the documented loss, rendered alike.
      return `'[' || coalesce((select string_agg(${pgEncoded('e', element ?? 'text')}, ',' order by i) from unnest(${v}) with ordinality u(e, i)), '') || ']'`;
    default:
      return `${v}::text`;
  }
}

function pgEncoded(v: string, kind: ValueKind, element?: ValueKind): string {
  const t = pgValue(v, kind, element);
  return lengthPrefixed(kind) ? `coalesce(octet_length(${t})::text || ':' || ${t}, 'N')` : `coalesce(${t}, 'N')`;
}

/** A column the connector transforms (hash, mask, truncate) is compared as the text ClickHouse holds. */
function pgTransformedEncoded(c: ColumnPlan & { transform: NonNullable<ColumnPlan['transform']> }): string {
  const t = pgTransformed(pgValue(pgIdent(c.name), 'text'), c.transform);
  return `coalesce(octet_length(${t})::text || ':' || ${t}, 'N')`;
}

/** One column's canonical, encoded text (also for tests that name the differing column). */
export const pgColumn = (c: ColumnPlan): string => (c.transform ? pgTransformedEncoded({ ...c, transform: c.transform }) : pgEncoded(pgIdent(c.name), c.kind, c.element));

const joinPg = (parts: string[]): string => (parts.length === 0 ? `''` : parts.join(` || '|' || `));

/** Inner Postgres query: canonical key k, bucket b and row hash h of every row. */
export function pgRowsSql(p: TablePlan): string {
  const k = joinPg(p.key.map(pgColumn));
  const r = joinPg(p.columns.map(pgColumn));
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
