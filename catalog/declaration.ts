/**
 * What a person (or a command) declares about one captured table. Everything
 * else (columns, types, key) comes from the live Postgres catalog, and every
 * object of the pipeline is derived from the two (see catalog/README.md).
 */
import { z } from 'zod';
import { DEFAULT_GROUP, GROUP_NAME, splitSource } from '../shared/names.ts';
import { parseRetention, retentionHint } from '../shared/duration.ts';

const ident = z.string().regex(/^[a-z_][a-z0-9_$]*$/, 'expected a lower-case, unquoted Postgres identifier');

/** Hash algorithms of Debezium's column.mask.hash.v2 that Postgres can recompute (sha256(), sha512()). */
export const hashAlgorithms = ['SHA-256', 'SHA-512'] as const;

/**
 * Per-column options. Transforms are applied by Debezium's own column
 * settings (catalog/connector.ts), so the value never leaves Postgres
 * untransformed; validation applies the same transform on the Postgres side
 * (catalog/validation-spec.ts). At most one transform per column, on text
 * columns only (Debezium's maskers and truncation apply to character columns).
 */
export const columnOptionsSchema = z
  .strictObject({
    /** Shown in the dbt sources and `catalog show`. */
    description: z.string().optional(),
    /** Lower-case hex digest of salt || value (column.mask.hash.v2.<algorithm>.with.salt.<salt>). */
    hash: z
      .strictObject({
        algorithm: z.enum(hashAlgorithms).default('SHA-256'),
        // Part of a connector property name: no dots or separators.
        salt: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'salt: 1-64 letters, digits, _ or -'),
      })
      .optional(),
    /** Every value, NULL included, becomes this many '*' (column.mask.with.N.chars). */
    mask: z.number().int().min(1).max(255).optional(),
    /** Values longer than this many characters are cut (column.truncate.to.N.chars). */
    truncate: z.number().int().min(1).max(1_000_000).optional(),
  })
  .refine((o) => [o.hash, o.mask, o.truncate].filter((x) => x !== undefined).length <= 1, 'at most one of hash, mask, truncate per column');

export type ColumnOptions = z.output<typeof columnOptionsSchema>;

export const tableDeclarationSchema = z.strictObject({
  /** `schema.table` in Postgres. */
  source: z.string().refine((s) => {
    try {
      splitSource(s);
      return true;
    } catch {
      return false;
    }
  }, 'expected schema.table (lower-case, unquoted identifiers)'),
  /** Key columns when the table has no primary key (or another key is wanted). */
  key: z.array(ident).min(1).optional(),
  /** Columns left out everywhere downstream (never leave Postgres: Debezium's column.exclude.list). */
  exclude: z.array(ident).default([]),
  description: z.string().optional(),
  columns: z.record(ident, columnOptionsSchema).default({}),
  /**
   * This table's own retention, where the pipeline's (CLICKHOUSE_CHANGELOG_TTL,
   * KAFKA_TOPIC_RETENTION) does not fit: `14d`, `12h`, `forever`. The deduplicated
   * change log and the current state never expire (catalog/retention.ts).
   */
  retention: z
    .strictObject({
      changelog: z.string().refine((v) => parseRetention(v) !== undefined, retentionHint).optional(),
      topic: z.string().refine((v) => parseRetention(v) !== undefined, retentionHint).optional(),
    })
    .optional(),
  /**
   * Partitions of this table's topic (default: the pipeline's KAFKA_TOPIC_PARTITIONS). Debezium keys
   * each message by the table's key, so one key's changes stay in order on one partition; ClickHouse
   * reads with one consumer per partition. Fixed once the topic exists (connectors/kafka/topics.ts).
   */
  partitions: z.number().int().min(1).max(64).optional(),
  /**
   * The table group it streams through (default: `default`, the pipeline's first publication, slot and
   * connector). Each group has its own publication, slot and connector (shared/names.ts groupNames).
   */
  group: z.string().regex(GROUP_NAME, 'group: a lower-case letter, then up to 29 lower-case letters, digits or _').optional(),
});

export type TableDeclaration = z.output<typeof tableDeclarationSchema>;
export type TableDeclarationInput = z.input<typeof tableDeclarationSchema>;

/** The group a declared table streams through. */
export const groupOf = (d: { group?: string | undefined }): string => d.group ?? DEFAULT_GROUP;

/** Parse declarations, reporting every problem with the table it belongs to. */
export function parseDeclarations(input: unknown[], where: string): TableDeclaration[] {
  const problems: string[] = [];
  const out: TableDeclaration[] = [];
  input.forEach((raw, i) => {
    const r = tableDeclarationSchema.safeParse(raw);
    const label = typeof raw === 'object' && raw !== null && 'source' in raw ? String((raw as { source: unknown }).source) : `#${i + 1}`;
    if (!r.success) {
      for (const issue of r.error.issues) problems.push(`${where}: ${label}: ${issue.path.join('.') || '(table)'}: ${issue.message}`);
      return;
    }
    const d = r.data;
    for (const c of d.exclude) if (d.key?.includes(c)) problems.push(`${where}: ${label}: column ${c} is both a key and excluded`);
    for (const [c, o] of Object.entries(d.columns)) {
      if (transformOf(o) && d.exclude.includes(c)) problems.push(`${where}: ${label}: column ${c} is both excluded and transformed`);
      if (transformOf(o) && d.key?.includes(c)) problems.push(`${where}: ${label}: key column ${c} cannot be transformed`);
    }
    out.push(d);
  });
  const seen = new Set<string>();
  for (const d of out) {
    if (seen.has(d.source)) problems.push(`${where}: ${d.source} is declared twice`);
    seen.add(d.source);
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return out;
}

/** The one transform of a column's options, if any. */
export type ColumnTransformOption = { hash: NonNullable<ColumnOptions['hash']> } | { mask: number } | { truncate: number };

export function transformOf(o: ColumnOptions): ColumnTransformOption | undefined {
  if (o.hash) return { hash: o.hash };
  if (o.mask !== undefined) return { mask: o.mask };
  if (o.truncate !== undefined) return { truncate: o.truncate };
  return undefined;
}
