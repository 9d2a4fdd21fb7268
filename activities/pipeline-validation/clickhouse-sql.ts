/**
 * ClickHouse's side of the canonical row (canonical.ts): catalog, row, bucket
 * and drill-down SQL, and the settings every one of these queries runs with
 * (they are part of the canonical rendering).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { integerKey, lengthPrefixed, type TablePlan, type ValueKind } from './canonical.ts';

export const chIdent = (name: string): string => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

const CH_SETTINGS = {
  output_format_json_quote_64bit_integers: 1,
  output_format_decimal_trailing_zeros: 0,
  // FINAL on one thread per part would be slow; let the engine use the cores.
  max_threads: 0,
} as const;

export async function chRows<T>(ch: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await ch.query({ query, format: 'JSONEachRow', query_params: params, clickhouse_settings: CH_SETTINGS });
  return rs.json<T>();
}

/** Columns of table {t} in database {db} with their types and the table's engine. */
export const chColumnsSql = `SELECT c.name AS name, c.type AS type, t.engine AS engine FROM system.columns c
       JOIN system.tables t ON t.database = c.database AND t.name = c.table
      WHERE c.database = {db:String} AND c.table = {t:String} ORDER BY c.position`;

/** Base ClickHouse type without Nullable()/LowCardinality() wrappers. */
export function chBaseType(type: string): string {
  let t = type.trim();
  for (;;) {
    const m = /^(Nullable|LowCardinality)\((.*)\)$/.exec(t);
    if (!m?.[2]) return t;
    t = m[2];
  }
}

function chValue(col: string, kind: ValueKind, chType: string): string {
  const c = chIdent(col);
  const base = chBaseType(chType);
  const isString = base === 'String' || base.startsWith('FixedString');
  switch (kind) {
    case 'timestamp':
      return isString
        ? `toString(toUnixTimestamp64Micro(parseDateTime64BestEffortOrNull(${c}, 6, 'UTC')))`
        : `toString(toUnixTimestamp64Micro(toDateTime64(${c}, 6, 'UTC')))`;
    case 'date':
      return isString ? c : `toString(toDate32(${c}))`;
    case 'numeric':
      // Decimal's text has no trailing zeros (output_format_decimal_trailing_zeros=0, set per query); a String is trimmed the same way.
      return isString ? `replaceRegexpOne(replaceRegexpOne(${c}, '(\\\\.[0-9]*[1-9])0+$', '\\\\1'), '\\\\.0+$', '')` : `toString(${c})`;
    case 'boolean':
      return `toString(toUInt8(${c}))`;
    default:
      return isString ? c : `toString(${c})`;
  }
}

function chEncoded(col: string, kind: ValueKind, chType: string): string {
  const v = chValue(col, kind, chType);
  return lengthPrefixed(kind) ? `ifNull(concat(toString(length(${v})), ':', ${v}), 'N')` : `ifNull(${v}, 'N')`;
}

const joinCh = (parts: string[]): string => (parts.length === 1 ? (parts[0] ?? `''`) : parts.length === 0 ? `''` : `concat(${parts.join(`, '|', `)})`);

function chRowsSql(p: TablePlan, opts: { final: boolean; live: boolean }): string {
  const k = joinCh(p.key.map((c) => chEncoded(c.name, c.kind, c.chType)));
  const r = joinCh(p.columns.map((c) => chEncoded(c.name, c.kind, c.chType)));
  const extra = [
    p.versionColumn ? `, ${chIdent(p.versionColumn)} AS v` : '',
    p.deletedColumn ? `, toUInt8(${chIdent(p.deletedColumn)} != 0) AS d` : '',
  ].join('');
  const where = opts.live && p.deletedColumn ? ` WHERE ${chIdent(p.deletedColumn)} = 0` : '';
  const ik = integerKey(p);
  const n = p.buckets;
  const b = ik
    ? `toUInt32(((toInt64(${chIdent(ik.name)}) % toInt64(${n})) + toInt64(${n})) % toInt64(${n}))`
    : `toUInt32(reinterpretAsUInt32(reverse(substring(MD5(${k}), 1, 4))) % ${n})`;
  return `SELECT k, b, reinterpretAsInt64(reverse(substring(MD5(concat(k, '#', r)), 1, 8))) AS h${p.versionColumn ? ', v' : ''}${p.deletedColumn ? ', d' : ''}
FROM (SELECT ${k} AS k, ${r} AS r, ${b} AS b${extra} FROM ${p.chTable}${opts.final ? ' FINAL' : ''}${where})`;
}

export function chBucketsSql(p: TablePlan): string {
  return `SELECT b AS bucket, toUInt32(count()) AS rows, toString(sum(toInt128(h))) AS sum FROM (${chRowsSql(p, { final: p.final, live: true })}) GROUP BY b`;
}

/** Latest row per key in the given buckets, deleted ones included (argMax over the version, i.e. what FINAL keeps). */
export function chDrillSql(p: TablePlan): string {
  const rows = chRowsSql(p, { final: !p.versionColumn && p.final, live: false });
  if (!p.versionColumn) {
    return `SELECT k, toString(h) AS h${p.deletedColumn ? ', d' : ', 0 AS d'} FROM (${rows}) WHERE b IN {buckets:Array(UInt32)}`;
  }
  return `SELECT k, toString(argMax(h, v)) AS h, toString(max(v)) AS version, ${p.deletedColumn ? 'argMax(d, v)' : '0'} AS d
FROM (${rows}) WHERE b IN {buckets:Array(UInt32)} GROUP BY k`;
}
