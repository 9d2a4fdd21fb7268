/**
 * How a Postgres column travels: the type the ClickHouse Kafka queue reads
 * from Debezium's Avro (with the connector's decimal.handling.mode=string,
 * time.precision.mode=adaptive_time_microseconds, interval.handling.mode=string
 * and binary.handling.mode=base64), and the column(s) and expression it
 * becomes in the change log and the current state. The table of what is exact
 * and what is not is in catalog/README.md ("Types"); test/integration/types.test.ts
 * round-trips every row of it.
 *
 * A type that is not listed here is refused with the column's name, so a
 * table is never captured with a column silently turned into something else.
 */
import type { SourceColumn } from './introspect.ts';

export interface OutputColumn {
  name: string;
  type: string;
  /** Expression over the queue's columns. */
  expr: string;
}

export interface MappedColumn {
  source: SourceColumn;
  key: boolean;
  /** Type of the column in the Kafka-engine queue. */
  queueType: string;
  outputs: OutputColumn[];
  /** The output validation compares with the source column (the exact one when there are two). */
  compared: string;
}

export class UnsupportedColumnType extends Error {
  override name = 'UnsupportedColumnType';
}

/** A ClickHouse identifier, backquoted only when it has to be. */
export function ident(name: string): string {
  return /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name) ? name : `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
}

/** One value's way through: queue type, output type, expression over the queue value `x`. */
interface ValueMapping {
  queue: string;
  out: string;
  expr: (x: string) => string;
  /** Value for a NOT NULL column whose queue value is NULL (never happens for a NOT NULL source; the type needs one). */
  empty: string;
  /** Some source values have no ClickHouse value and become NULL: the output is Nullable even for a NOT NULL source. */
  nullsSome?: boolean;
  /** Usable as (part of) the ORDER BY key. */
  keyable?: boolean;
}

// Debezium spells numeric's special values with Java enum names; ClickHouse shows them as Postgres does.
const numericText = (x: string) => `multiIf(${x} = 'NAN', 'NaN', ${x} = 'POSITIVE_INFINITY', 'Infinity', ${x} = 'NEGATIVE_INFINITY', '-Infinity', ${x})`;

// io.debezium.time.(Micro)Timestamp for ±infinity (PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY as µs and ms).
export const infinityMicros = ['9223372036825200000', '-9223372036832400000'] as const;
export const infinityMillis = ['9223372036825200', '-9223372036832400'] as const;
// Date32's range in days since 1970-01-01: 1900-01-01 .. 2299-12-31 (outside it ClickHouse would clamp).
const date32Days = [-25567, 120529];

/** Types that travel as text (Debezium's string) and stay String; catalog/load-encoding.ts renders them too. */
export const stringTypes = [
  /^text$/,
  /^character varying(\(\d+\))?$/,
  /^character(\(\d+\))?$/,
  /^bpchar$/,
  /^uuid$/,
  /^jsonb?$/,
  /^citext$/,
  /^inet$/,
  /^cidr$/,
  /^macaddr8?$/,
  /^xml$/,
  /^interval(\(\d\))?$/,
];

const plain = (queue: string, out = queue, empty = '0'): ValueMapping => ({ queue, out, expr: (x) => x, empty, keyable: true });

function decimalFunction(precision: number): string {
  if (precision <= 9) return 'toDecimal32OrNull';
  if (precision <= 18) return 'toDecimal64OrNull';
  if (precision <= 38) return 'toDecimal128OrNull';
  return 'toDecimal256OrNull';
}

/** numeric(p,s) as ClickHouse Decimal(P, S), or null when Decimal (76 digits, 0 <= S <= P) cannot hold every value. */
export function decimalFor(type: string): { precision: number; scale: number } | null {
  const m = /^numeric\((\d+),(-?\d+)\)$/.exec(type);
  if (!m) return null;
  const p = Number(m[1]);
  const s = Number(m[2]);
  // Negative scale rounds left of the point (numeric(3,-2) holds 99900); a scale above the precision
  // holds only fractions (numeric(2,5) holds 0.00099).
  const precision = s < 0 ? p - s : Math.max(p, s);
  const scale = Math.max(s, 0);
  return precision <= 76 ? { precision, scale } : null;
}

/**
 * numeric(p, s < 0) holds integers, yet Debezium's text of one ends in a point
 * and some two thousand zeros (read on this stack): cut, it is Postgres' own text.
 */
const negativeScale = (t: string): boolean => /^numeric\(\d+,-\d+\)$/.test(t);

/** The mapping of one value of type `t` (a column's, or an array's element), or null when unsupported. */
function valueMapping(t: string, isEnum: boolean): ValueMapping | null {
  if (isEnum || stringTypes.some((re) => re.test(t))) return plain('String', 'String', "''");
  if (t === 'smallint') return plain('Int32', 'Int16');
  if (t === 'integer') return plain('Int32');
  if (t === 'bigint') return plain('Int64');
  if (t === 'boolean') return plain('Bool', 'Bool', 'false');
  if (t === 'real') return { ...plain('Float32'), keyable: false };
  if (t === 'double precision') return { ...plain('Float64'), keyable: false };
  if (t === 'numeric' || t.startsWith('numeric(')) return { queue: 'String', out: 'String', expr: numericText, empty: "''", keyable: true };
  if (t === 'bytea') return { queue: 'String', out: 'String', expr: (x) => `base64Decode(${x})`, empty: "''" };
  if (t === 'date') {
    return { queue: 'Int32', out: 'Date32', expr: (x) => `if(${x} BETWEEN ${date32Days[0]} AND ${date32Days[1]}, toDate32(${x}), NULL)`, empty: '0', nullsSome: true };
  }
  if (/^time(\(\d\))? without time zone$/.test(t)) {
    return { queue: 'Int64', out: 'Time64(6)', expr: (x) => `toTime64(toDecimal64(${x}, 6) / 1000000, 6)`, empty: '0' };
  }
  if (/^time(\(\d\))? with time zone$/.test(t)) {
    // Debezium sends the time of day in UTC ('10:15:30.123456Z'): the offset itself does not travel.
    return { queue: 'String', out: 'Time64(6)', expr: (x) => `toTime64OrNull(replaceOne(${x}, 'Z', ''), 6)`, empty: '0', nullsSome: true };
  }
  const ts = /^timestamp(?:\((\d)\))? without time zone$/.exec(t);
  if (ts) {
    // adaptive_time_microseconds: timestamp(0..3) travels as epoch milliseconds, timestamp(4..6) as microseconds.
    const millis = ts[1] !== undefined && Number(ts[1]) <= 3;
    const inf = millis ? infinityMillis : infinityMicros;
    const from = millis ? 'fromUnixTimestamp64Milli' : 'fromUnixTimestamp64Micro';
    return { queue: 'Int64', out: "DateTime64(6, 'UTC')", expr: (x) => `if(${x} IN (${inf.join(', ')}), NULL, ${from}(${x}, 'UTC'))`, empty: '0', nullsSome: true };
  }
  if (/^timestamp(\(\d\))? with time zone$/.test(t)) {
    return { queue: 'String', out: "DateTime64(6, 'UTC')", expr: (x) => `parseDateTime64BestEffortOrNull(${x}, 6, 'UTC')`, empty: '0', nullsSome: true };
  }
  return null;
}

/**
 * `queueTable` is the queue's name without its database (expressions that
 * must not see an alias qualify the queue column with it).
 *
 * Nullability downstream follows the source, with one exception: values a
 * ClickHouse type cannot hold (numeric NaN/±Infinity in Decimal, timestamp
 * ±infinity, dates outside Date32) become NULL, so those columns are Nullable
 * even when the source is NOT NULL.
 */
/** The exact text of a numeric beside its Decimal: `<column>_text`. */
export const textOutputName = (column: string): string => `${column}_text`;

/** Every ClickHouse column name mapColumn can give a source column of this name, whatever its type. */
export const possibleOutputNames = (column: string): string[] => [column, textOutputName(column)];

export function mapColumn(c: SourceColumn, queueTable: string): MappedColumn {
  const key = c.keyPosition !== null;
  const id = ident(c.name);
  const t = c.type;
  const refuse = (why = 'which the pipeline does not map yet'): never => {
    throw new UnsupportedColumnType(
      `column ${c.name} has type ${t}${key ? ' (as a key column)' : ''}, ${why}; leave it out with "exclude" in the table's declaration`,
    );
  };
  const column = (queueType: string, outputs: OutputColumn[]): MappedColumn => ({ source: c, key, queueType, outputs, compared: outputs.at(-1)!.name });

  if (t.endsWith('[]')) {
    // Arrays: Avro array of nullable elements; each element mapped like a column of its type.
    const elementType = t.slice(0, -2);
    // numeric[]: Debezium's arrays of numeric arrived empty in string mode (test/integration/types.test.ts found it): refused, not lost.
    if (elementType.startsWith('numeric')) return refuse('whose arrays Debezium does not deliver with decimal.handling.mode=string');
    const el = valueMapping(elementType, c.enumType === true);
    if (!el || key) return refuse();
    const expr = el.expr('e') === 'e' ? id : `arrayMap(e -> ${el.expr('e')}, ${id})`;
    return column(`Array(Nullable(${el.queue}))`, [{ name: c.name, type: `Array(Nullable(${el.out}))`, expr }]);
  }

  const dec = decimalFor(t);
  if (dec) {
    if (key) return refuse();
    // Decimal of the same digits, and the exact text beside it (what Decimal cannot hold, NaN and ±Infinity, is there).
    // The text reads the queue column by its table-qualified name: unqualified, `amount` would be the
    // Decimal alias beside it (the first generator's `amount AS amount_text` lost NaN and trailing zeros so).
    return {
      ...column('Nullable(String)', [
        { name: c.name, type: `Nullable(Decimal(${dec.precision}, ${dec.scale}))`, expr: `${decimalFunction(dec.precision)}(${id}, ${dec.scale})` },
        { name: textOutputName(c.name), type: 'Nullable(String)', expr: negativeScale(t) ? `replaceRegexpOne(${numericText(`${ident(queueTable)}.${id}`)}, '\\.0+$', '')` : numericText(`${ident(queueTable)}.${id}`) },
      ]),
      compared: textOutputName(c.name),
    };
  }

  const m = valueMapping(t, c.enumType === true);
  if (!m) return refuse();
  if (key && !(m.keyable ?? false)) return refuse('which cannot be a key column in ClickHouse');
  const expr = m.expr(id);
  const out: OutputColumn = key
    ? { name: c.name, type: m.out, expr }
    : c.notNull && !m.nullsSome
      ? { name: c.name, type: m.out, expr: expr === id ? `coalesce(${id}, ${m.empty})` : `coalesce(${expr}, ${m.empty})` }
      : { name: c.name, type: `Nullable(${m.out})`, expr };
  return column(key ? m.queue : `Nullable(${m.queue})`, [out]);
}
