/**
 * ClickHouse's side of the canonical row (canonical.ts): catalog, row, bucket
 * and drill-down SQL, and the settings every one of these queries runs with
 * (they are part of the canonical rendering).
 */
import { chRows, type ClickHouseClient } from '../../connectors/clickhouse/client.ts';
import { integerKey, lengthPrefixed, type ColumnPlan, type TablePlan, type ValueKind } from './canonical.ts';

export const chIdent = (name: string): string => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

const CH_SETTINGS = {
  output_format_json_quote_64bit_integers: 1,
  output_format_decimal_trailing_zeros: 0,
  // FINAL on one thread per part would be slow; let the engine use the cores.
  max_threads: 0,
} as const;

/** Rows of a comparison query, with the settings its canonical text depends on. */
export const canonicalRows = <T>(ch: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> => chRows<T>(ch, query, params, CH_SETTINGS);

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

const micros = (v: string) => `toString(toInt64(toDecimal64(${v}, 6) * 1000000))`;
// One group of Debezium's ISO-8601 interval 'P1Y2M3DT4H5M6.78S' (every part always present).
const isoPart = (v: string, re: string) => `toInt64(extract(${v}, '${re}'))`;

/** The canonical text of expression `v` (ClickHouse type `chType`) of this kind (canonical.ts). */
function chValue(v: string, kind: ValueKind, chType: string, element?: ValueKind): string {
  const base = chBaseType(chType);
  const isString = base === 'String' || base.startsWith('FixedString');
  switch (kind) {
    case 'timestamp':
      return isString
        ? `toString(toUnixTimestamp64Micro(parseDateTime64BestEffortOrNull(${v}, 6, 'UTC')))`
        : `toString(toUnixTimestamp64Micro(toDateTime64(${v}, 6, 'UTC')))`;
    case 'date':
      return isString ? v : `toString(toDate32(${v}))`;
    case 'time':
    case 'timetz':
      return micros(v);
    case 'interval':
      return `concat(toString(${isoPart(v, 'P(-?[0-9]+)Y')} * 12 + ${isoPart(v, 'Y(-?[0-9]+)M')}), ',', toString(${isoPart(v, 'M(-?[0-9]+)D')}), ',', toString(toInt64((${isoPart(v, 'T(-?[0-9]+)H')} * 3600 + ${isoPart(v, 'H(-?[0-9]+)M')} * 60) * 1000000 + toDecimal128(extract(${v}, 'M(-?[0-9.]+)S$'), 6) * 1000000)))`;
    case 'numeric':
      // Decimal's text has no trailing zeros (output_format_decimal_trailing_zeros=0, set per query); a String is trimmed the same way.
      return isString ? `replaceRegexpOne(replaceRegexpOne(${v}, '(\\.[0-9]*[1-9])0+$', '\\1'), '\\.0+$', '')` : `toString(${v})`;
    case 'boolean':
      return `toString(toUInt8(${v}))`;
    case 'float4':
    case 'float8':
      // The IEEE bits as a big-endian integer, zero-padded (hex() drops leading zero bytes).
      return base === 'Float32'
        ? `if(isNaN(${v}), 'NaN', leftPad(lower(hex(reinterpretAsUInt32(${v}))), 8, '0'))`
        : `if(isNaN(${v}), 'NaN', leftPad(lower(hex(reinterpretAsUInt64(${v}))), 16, '0'))`;
    case 'bytea':
      return `lower(hex(${v}))`;
    case 'array': {
      const el = chBaseType(/^Array\((.*)\)$/.exec(base)?.[1] ?? 'String');
      return `concat('[', arrayStringConcat(arrayMap(e -> ${chEncoded('e', element ?? 'text', el)}, ${v}), ','), ']')`;
    }
    default:
      return isString ? v : `toString(${v})`;
  }
}

function chEncoded(v: string, kind: ValueKind, chType: string, element?: ValueKind): string {
  const t = chValue(v, kind, chType, element);
  return lengthPrefixed(kind) ? `ifNull(concat(toString(length(${t})), ':', ${t}), 'N')` : `ifNull(${t}, 'N')`;
}

/** One column's canonical, encoded text (also for tests that name the differing column). */
export const chColumn = (c: ColumnPlan): string => chEncoded(chIdent(c.chName ?? c.name), c.kind, c.chType, c.element);

const joinCh = (parts: string[]): string => (parts.length === 1 ? (parts[0] ?? `''`) : parts.length === 0 ? `''` : `concat(${parts.join(`, '|', `)})`);

function chRowsSql(p: TablePlan, opts: { final: boolean; live: boolean }): string {
  const k = joinCh(p.key.map(chColumn));
  const r = joinCh(p.columns.map(chColumn));
  // The inner aliases must not be names a table's columns could have: ClickHouse lets an alias shadow a
  // column in the other expressions of its SELECT (a column named b or d read the bucket or the deleted flag).
  const extra = [
    p.versionColumn ? `, ${chIdent(p.versionColumn)} AS __astros_v` : '',
    p.deletedColumn ? `, toUInt8(${chIdent(p.deletedColumn)} != 0) AS __astros_d` : '',
  ].join('');
  const where = opts.live && p.deletedColumn ? ` WHERE ${chIdent(p.deletedColumn)} = 0` : '';
  const ik = integerKey(p);
  const n = p.buckets;
  const b = ik
    ? `toUInt32(((toInt64(${chIdent(ik.name)}) % toInt64(${n})) + toInt64(${n})) % toInt64(${n}))`
    : `toUInt32(reinterpretAsUInt32(reverse(substring(MD5(${k}), 1, 4))) % ${n})`;
  return `SELECT __astros_k AS k, __astros_b AS b, reinterpretAsInt64(reverse(substring(MD5(concat(__astros_k, '#', __astros_r)), 1, 8))) AS h${p.versionColumn ? ', __astros_v AS v' : ''}${p.deletedColumn ? ', __astros_d AS d' : ''}
FROM (SELECT ${k} AS __astros_k, ${r} AS __astros_r, ${b} AS __astros_b${extra} FROM ${p.chTable}${opts.final ? ' FINAL' : ''}${where})`;
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
