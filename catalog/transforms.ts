/**
 * The connector's column transforms (catalog column options: Debezium's
 * column.mask.hash.v2, column.mask.with.N.chars, column.truncate.to.N.chars)
 * recomputed in Postgres, so validation compares what ClickHouse holds. Pure.
 *
 * Debezium's HashValueConverter (v2) digests the salt's bytes, then the
 * value's text (UTF-8), and writes lower-case hex, cut to the column's length
 * when it has one; masking replaces every value, NULL included, with N '*'; truncation
 * keeps the first N characters (Java counts UTF-16 units: a value with
 * characters outside the BMP near the cut would differ, and is reported).
 */
import type { ColumnTransform } from '../shared/validation.ts';

const pgString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** `v` (a text expression) as the connector sends it. */
export function pgTransformed(v: string, t: ColumnTransform): string {
  switch (t.kind) {
    case 'hash': {
      const hex = `encode(${t.algorithm}(convert_to(${pgString(t.salt)}, 'UTF8') || convert_to(${v}, 'UTF8')), 'hex')`;
      return t.length === undefined ? hex : `left(${hex}, ${t.length})`;
    }
    case 'mask':
      // Debezium masks NULL too (checked on the stack).
      return `repeat('*', ${t.chars})`;
    case 'truncate':
      return `left(${v}, ${t.chars})`;
  }
}
