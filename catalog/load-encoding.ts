/**
 * A bulk load's Postgres side: each column rendered as Debezium sends it
 * (the connector settings named in column-types.ts), so that loaded rows go
 * through the very expressions the queue's views apply and come out equal to
 * streamed ones. The ClickHouse host reads the rendered values as text
 * (`postgresql()`, resync-load-sql.ts): each arrives as the string Postgres
 * made, unescaped, and ClickHouse casts it to the queue column's type (a
 * number, a bool, an array literal); integers, booleans and dates arrive
 * typed instead (pgWireType). An array is a ClickHouse literal, so
 * inside a quoted element a backslash is doubled and a quote doubled (`''`);
 * a tab or newline stands as it is.
 *
 * Written next to column-types.ts's `valueMapping`; a type added there needs
 * its rendering here (an unknown one throws, as it does there).
 */
import type { ColumnTransform } from '../shared/validation.ts';
import { pgTransformed } from './transforms.ts';
import { infinityMicros, infinityMillis, stringTypes } from './column-types.ts';
import type { SourceColumn } from './introspect.ts';

export const pgIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`;


/** Types whose rendering is Postgres' own date/time text, which is ISO only in DateStyle ISO. */
const isoDateStyleType = (t: string): boolean => /^timestamp(\(\d\))? with time zone$/.test(t);

/** Whether column `c`'s rendering needs the reading session's DateStyle to be ISO (resync-load-sql.ts checks it once per range). */
export const needsIsoDateStyle = (c: SourceColumn, transform?: ColumnTransform): boolean =>
  transform === undefined && isoDateStyleType(c.type.endsWith('[]') ? c.type.slice(0, -2) : c.type);

/** Scalar value `x` of type `t` as Debezium's wire value, as Postgres text. */
function scalar(x: string, t: string, isEnum: boolean): string | null {
  // char(n) keeps its padding (Debezium sends it padded; a cast to text would strip it, its output function does not).
  if (/^(character(\(\d+\))?|bpchar)$/.test(t)) return `case when ${x} is not null then format('%s', ${x}) end`;
  // Debezium's Interval.toIsoString: every part, seconds without trailing zeros.
  if (/^interval(\(\d\))?$/.test(t)) {
    const part = (f: string) => `extract(${f} from ${x})::bigint::text`;
    return `'P' || ${part('year')} || 'Y' || ${part('month')} || 'M' || ${part('day')} || 'DT' || ${part('hour')} || 'H' || ${part('minute')} || 'M' || trim_scale(extract(second from ${x}))::text || 'S'`;
  }
  if (isEnum || stringTypes.some((re) => re.test(t))) return `${x}::text`;
  if (['smallint', 'integer', 'bigint', 'boolean', 'real', 'double precision'].includes(t)) return `${x}::text`;
  if (t === 'numeric' || t.startsWith('numeric(')) return `${x}::text`;
  if (t === 'bytea') return `translate(encode(${x}, 'base64'), E'\\n', '')`;
  if (t === 'date') return `case when isfinite(${x}) then (${x} - date '1970-01-01')::text end`;
  // date_part's float8 seconds (time / 1e6, rounded once) times 1e6 round back to the exact integer: a day's
  // microseconds are far inside float8's 2^53; extract's numeric, the same value, costs Postgres a third more.
  if (/^time(\(\d\))? without time zone$/.test(t)) return `round(date_part('epoch', ${x}) * 1000000)::bigint::text`;
  if (/^time(\(\d\))? with time zone$/.test(t)) return `to_char(date '2000-01-01' + (${x} at time zone 'UTC')::time, 'HH24:MI:SS.US') || 'Z'`;
  const ts = /^timestamp(?:\((\d)\))? without time zone$/.exec(t);
  if (ts) {
    const millis = ts[1] !== undefined && Number(ts[1]) <= 3;
    const [pos, neg] = millis ? infinityMillis : infinityMicros;
    const unit = millis ? 1000 : 1000000;
    // Years 0001..9999 as whole days plus the time of day (as for time above): the same integer as extract's numeric
    // (checked on 600k values), for three quarters of its cost; other years keep extract.
    const days = `((${x}::date - date '1970-01-01')::bigint * ${unit * 86400} + round(date_part('epoch', ${x}::time) * ${unit})::bigint)::text`;
    return `case when ${x} >= timestamp '0001-01-01' and ${x} < timestamp '10000-01-01' then ${days} when isfinite(${x}) then (extract(epoch from ${x}) * ${unit})::bigint::text when ${x} > 'epoch' then '${pos}' else '${neg}' end`;
  }
  if (isoDateStyleType(t)) {
    // Years 0001..9999 as the UTC timestamp's own text ('2024-02-29 18:29:59.123456', DateStyle ISO: the range's view
    // refuses any other), which costs Postgres half of to_char; the queue's parseDateTime64BestEffortOrNull reads both
    // to the same value (checked on 650k values spread over those years). Other years and ±infinity keep to_char's text.
    const iso = `to_char(${x} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
    return `case when ${x} >= timestamptz '0001-01-01 00:00:00+00' and ${x} < timestamptz '10000-01-01 00:00:00+00' then (${x} at time zone 'UTC')::text when isfinite(${x}) then ${iso} else 'infinity' end`;
  }
  return null;
}

/** An array element inside a ClickHouse array literal. */
function element(e: string, t: string, isEnum: boolean): string | null {
  const v = scalar(e, t, isEnum);
  if (v === null) return null;
  if (t === 'real' || t === 'double precision') return `case when ${e} = 'NaN' then 'nan' when ${e} = 'Infinity' then 'inf' when ${e} = '-Infinity' then '-inf' else ${v} end`;
  if (t === 'boolean') return `case when ${e} then 'true' else 'false' end`;
  const numeric = ['smallint', 'integer', 'bigint'].includes(t) || /^(date|time|timestamp)/.test(t) && !/with time zone/.test(t);
  if (numeric) return v;
  // A quoted string literal: the backslash (chr(92)) and the quote escaped.
  return `'''' || replace(replace(${v}, chr(92), chr(92) || chr(92)), '''', '''''') || ''''`;
}

/**
 * The types whose columns pass typed instead of as text, and the Postgres type each passes as: `postgresql()`
 * reads an integer as the ClickHouse integer of its width and a boolean as UInt8 (0 or 1), which cast to the
 * queue's column (Int32, Int64, Bool) to the value their text would parse to; a date passes as its day number,
 * the integer its text was. No cast to text in Postgres, no String column cast in ClickHouse: about a tenth of
 * a range's CPU on the bench's table (bench/README.md, tuning log row 10).
 */
const typedTypes: Record<string, string> = { smallint: 'smallint', integer: 'integer', bigint: 'bigint', boolean: 'boolean', date: 'integer' };

/** The Postgres type column `c`'s wire value is returned as (pgWireValue): its own for the types above, text for any other. */
export const pgWireType = (c: SourceColumn, transform?: ColumnTransform): string => (transform === undefined ? typedTypes[c.type] : undefined) ?? 'text';

/** Column `c` as its wire value (of type pgWireType), with the connector's transform applied when it has one. */
export function pgWireValue(c: SourceColumn, transform?: ColumnTransform): string {
  const id = pgIdent(c.name);
  if (transform) return pgTransformed(`${id}::text`, transform);
  if (c.type === 'date') return `case when isfinite(${id}) then ${id} - date '1970-01-01' end`;
  if (pgWireType(c) !== 'text') return id;
  if (c.type.endsWith('[]')) {
    const el = element('e', c.type.slice(0, -2), c.enumType === true);
    if (el === null) throw new Error(`column ${c.name}: no load encoding for ${c.type}`);
    // A NULL array reaches ClickHouse as [] (its arrays cannot be NULL): the same here.
    return `case when ${id} is null then '[]' else '[' || array_to_string(array(select ${el} from unnest(${id}) as u(e)), ',', 'NULL') || ']' end`;
  }
  const v = scalar(id, c.type, c.enumType === true);
  if (v === null) throw new Error(`column ${c.name}: no load encoding for ${c.type}`);
  return v;
}
