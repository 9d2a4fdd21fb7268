/**
 * How a Postgres column travels: the type the ClickHouse Kafka queue reads
 * from Debezium's Avro (with the connector's decimal.handling.mode=string and
 * time.precision.mode=adaptive_time_microseconds), and the column(s) and
 * expression it becomes in the change log and the current state.
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
}

export class UnsupportedColumnType extends Error {
  override name = 'UnsupportedColumnType';
}

/** A ClickHouse identifier, backquoted only when it has to be. */
export function ident(name: string): string {
  return /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name) ? name : `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
}

const stringTypes = [/^text$/, /^character varying(\(\d+\))?$/, /^uuid$/, /^jsonb?$/, /^citext$/, /^inet$/, /^cidr$/, /^macaddr8?$/, /^xml$/];

function decimalFunction(precision: number): string {
  if (precision <= 9) return 'toDecimal32OrNull';
  if (precision <= 18) return 'toDecimal64OrNull';
  if (precision <= 38) return 'toDecimal128OrNull';
  return 'toDecimal256OrNull';
}

/**
 * Nullability downstream follows the source, with one exception: values a
 * ClickHouse type cannot hold (numeric NaN, timestamptz ±infinity) become
 * NULL, so those columns are Nullable even when the source is NOT NULL.
 */
export function mapColumn(c: SourceColumn): MappedColumn {
  const key = c.keyPosition !== null;
  const id = ident(c.name);
  const nullable = (t: string) => (key ? t : `Nullable(${t})`);
  const plain = (chType: string, empty: string): MappedColumn => ({
    source: c,
    key,
    queueType: nullable(chType),
    outputs: [
      key
        ? { name: c.name, type: chType, expr: id }
        : c.notNull
          ? { name: c.name, type: chType, expr: `coalesce(${id}, ${empty})` }
          : { name: c.name, type: `Nullable(${chType})`, expr: id },
    ],
  });
  const t = c.type;
  if (stringTypes.some((re) => re.test(t))) return plain('String', "''");
  if (t === 'smallint') return { ...plain('Int16', '0'), queueType: nullable('Int32') };
  if (t === 'integer') return plain('Int32', '0');
  if (t === 'bigint') return plain('Int64', '0');
  if (t === 'boolean') return plain('Bool', 'false');
  if (t === 'real') return plain('Float32', '0');
  if (t === 'double precision') return plain('Float64', '0');
  if (t === 'numeric') return plain('String', "''");
  const dec = /^numeric\((\d+),(\d+)\)$/.exec(t);
  if (dec && !key) {
    const p = Number(dec[1]);
    const s = Number(dec[2]);
    return {
      source: c,
      key,
      queueType: 'Nullable(String)',
      outputs: [
        { name: c.name, type: `Nullable(Decimal(${p}, ${s}))`, expr: `${decimalFunction(p)}(${id}, ${s})` },
        // The exact text beside it: what Decimal cannot hold (NaN) is still visible there.
        { name: `${c.name}_text`, type: 'Nullable(String)', expr: id },
      ],
    };
  }
  if (t === 'timestamp with time zone' && !key) {
    return {
      source: c,
      key,
      queueType: 'Nullable(String)',
      outputs: [{ name: c.name, type: "Nullable(DateTime64(6, 'UTC'))", expr: `parseDateTime64BestEffortOrNull(${id}, 6, 'UTC')` }],
    };
  }
  throw new UnsupportedColumnType(
    `column ${c.name} has type ${t}${key ? ' (as a key column)' : ''}, which the pipeline does not map yet; ` +
      'leave it out with "exclude" in the table\'s declaration',
  );
}
