/**
 * What a person (or a command) declares about one captured table. Everything
 * else (columns, types, key) comes from the live Postgres catalog, and every
 * object of the pipeline is derived from the two (see catalog/README.md).
 */
import { z } from 'zod';
import { splitSource } from './names.ts';

const ident = z.string().regex(/^[a-z_][a-z0-9_$]*$/, 'expected a lower-case, unquoted Postgres identifier');

/** Per-column options. Room for more (masking, hashing) without changing the shape. */
export const columnOptionsSchema = z.strictObject({
  /** Shown in the dbt sources and `catalog show`. */
  description: z.string().optional(),
});

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
});

export type TableDeclaration = z.output<typeof tableDeclarationSchema>;
export type TableDeclarationInput = z.input<typeof tableDeclarationSchema>;

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
