/**
 * The canonical row, shared by both engines' SQL (postgres-sql.ts,
 * clickhouse-sql.ts). Pure, no I/O.
 *
 * Each row is rendered as the same canonical text in both engines
 * (timestamps as UTC microseconds since the epoch, numerics as exact decimal
 * text without trailing zeros, NaN and ±Infinity spelled as Postgres spells
 * them, text length-prefixed so that NULL ('N') and ''
 * ('0:') and separators can never be confused), hashed with MD5 (the one
 * hash both engines have) and reduced to a signed 64-bit integer (first 8
 * bytes, big-endian). Rows go to one of N buckets by their key alone: the
 * key modulo N when it is a single integer column (the common case, and one
 * MD5 per row cheaper), else the MD5 of the canonical key; each engine
 * returns, in a single GROUP BY query, per bucket the row count and the exact
 * (128-bit / numeric) sum of the row hashes. Buckets whose count or sum
 * differ are drilled into: both engines list (key, hash) for those buckets
 * only, and the keys missing, extra or different are named (diff.ts).
 */

import type { ColumnTransform } from '../../shared/validation.ts';

/** How a column is rendered canonically; decided by the Postgres type (a domain's base type). */
export type ValueKind =
  | 'timestamp'
  | 'date'
  | 'time'
  | 'timetz'
  | 'interval'
  | 'numeric'
  | 'integer'
  | 'boolean'
  | 'float4'
  | 'float8'
  | 'bytea'
  | 'bpchar'
  | 'text'
  | 'array';

/**
 * The canonical forms beyond the ones above: floats as their IEEE bits in hex
 * (NaN as 'NaN', whatever its payload); time and timetz as microseconds of
 * the day (timetz in UTC: the offset does not travel); interval as
 * 'months,days,microseconds'; bytea as lower-case hex; char(n) with its
 * padding; an array as '[' + its elements' canonical forms + ']' (a NULL
 * array as '[]': ClickHouse has no Nullable(Array)). Timestamp
 * ±infinity and dates outside ClickHouse's Date32 have no ClickHouse value
 * and render as NULL on both sides (the lossy rows of the mapping table).
 */
export function valueKindOf(pgType: string): ValueKind {
  const t = pgType.toLowerCase();
  if (t.endsWith('[]')) return 'array';
  if (t.startsWith('timestamp')) return 'timestamp';
  if (/^time(\(\d\))? with time zone$/.test(t)) return 'timetz';
  if (t.startsWith('time')) return 'time';
  if (t.startsWith('interval')) return 'interval';
  if (t === 'date') return 'date';
  if (t.startsWith('numeric') || t.startsWith('decimal')) return 'numeric';
  if (t === 'smallint' || t === 'integer' || t === 'bigint') return 'integer';
  if (t === 'boolean') return 'boolean';
  if (t === 'real') return 'float4';
  if (t === 'double precision') return 'float8';
  if (t === 'bytea') return 'bytea';
  if (t.startsWith('character(') || t === 'bpchar' || t === 'character') return 'bpchar';
  return 'text';
}

/** Text kinds (and arrays, whose elements may be text) are length-prefixed ('<bytes>:<value>'); the others never contain '|' or ':'. */
export const lengthPrefixed = (kind: ValueKind): boolean => kind === 'text' || kind === 'bpchar' || kind === 'array';

/** Inverse of the canonical key encoding, for display: '7:abc def|42' -> ['abc def', '42']. */
export function decodeKey(canonical: string, kinds: ValueKind[]): string[] {
  const buf = Buffer.from(canonical, 'utf8');
  const out: string[] = [];
  let pos = 0;
  kinds.forEach((kind, i) => {
    if (i > 0) pos++; // the '|' separator
    if (buf[pos] === 0x4e /* N */ && (pos + 1 === buf.length || buf[pos + 1] === 0x7c)) {
      out.push('NULL');
      pos++;
      return;
    }
    if (lengthPrefixed(kind)) {
      const colon = buf.indexOf(0x3a, pos);
      const len = Number(buf.subarray(pos, colon).toString('latin1'));
      out.push(buf.subarray(colon + 1, colon + 1 + len).toString('utf8'));
      pos = colon + 1 + len;
    } else {
      let end = buf.indexOf(0x7c, pos);
      if (end < 0) end = buf.length;
      out.push(buf.subarray(pos, end).toString('utf8'));
      pos = end;
    }
  });
  return out;
}

export interface ColumnPlan {
  /** Postgres column. */
  name: string;
  /** ClickHouse column compared with it (the same name unless the catalog says otherwise: numeric(p,s) -> <col>_text). */
  chName?: string;
  kind: ValueKind;
  /** An array's element kind. */
  element?: ValueKind;
  chType: string;
  /** Applied to the Postgres value (ClickHouse holds the transformed one). */
  transform?: ColumnTransform;
}

/** What both engines' SQL is generated from (built by plan.ts). */
export interface TablePlan {
  pgTable: string;
  chTable: string;
  key: ColumnPlan[];
  columns: ColumnPlan[];
  buckets: number;
  versionColumn?: string;
  deletedColumn?: string;
  final: boolean;
}

/** The single integer key column, if that is the key: its buckets are the key modulo N. */
export function integerKey(p: TablePlan): ColumnPlan | undefined {
  const [only, ...rest] = p.key;
  return only?.kind === 'integer' && rest.length === 0 ? only : undefined;
}
