/**
 * The table plan: which columns are compared and how each is rendered,
 * from the spec and both engines' catalogs. Input problems are permanent
 * failures (InvalidInput).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { IngestErrorType, permanentFailure } from '../../shared/errors.ts';
import { valueKindOf, type ColumnPlan, type TablePlan } from './canonical.ts';
import { chColumnsSql, chIdent, canonicalRows } from './clickhouse-sql.ts';
import { pgColumnsSql, pgIdent } from './postgres-sql.ts';
import type { ValidationSpec } from '../../shared/validation.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function checkIdent(what: string, name: string | undefined): void {
  if (name !== undefined && !IDENT.test(name)) {
    throw permanentFailure(IngestErrorType.InvalidInput, `${what} ${JSON.stringify(name)} is not a plain SQL identifier`);
  }
}

export async function planTable(
  client: pg.PoolClient,
  ch: ClickHouseClient,
  spec: ValidationSpec,
): Promise<{ plan: TablePlan; missingColumns: string[] }> {
  const { source, target } = spec;
  for (const [what, name] of [
    ['source.schema', source.schema],
    ['source.table', source.table],
    ['target.database', target.database],
    ['target.table', target.table],
    ['target.versionColumn', target.versionColumn],
    ['target.deletedColumn', target.deletedColumn],
    ['target.changesTable', target.changesTable],
  ] as const) {
    checkIdent(what, name);
  }
  const pgTable = `${pgIdent(source.schema)}.${pgIdent(source.table)}`;
  const { rows: pgCols } = await client.query<{ name: string; type: string; pk: boolean }>(pgColumnsSql, [pgTable]);
  if (pgCols.length === 0) throw permanentFailure(IngestErrorType.InvalidInput, `Postgres table ${source.schema}.${source.table} does not exist`);
  const chCols = await canonicalRows<{ name: string; type: string; engine: string }>(ch, chColumnsSql, { db: target.database, t: target.table });
  if (chCols.length === 0) throw permanentFailure(IngestErrorType.InvalidInput, `ClickHouse table ${target.database}.${target.table} does not exist`);
  const chType = new Map(chCols.map((c) => [c.name, c.type]));
  const pgType = new Map(pgCols.map((c) => [c.name, c.type]));
  const keyNames = source.key ?? pgCols.filter((c) => c.pk).map((c) => c.name);
  if (keyNames.length === 0) throw permanentFailure(IngestErrorType.InvalidInput, `${source.schema}.${source.table} has no primary key; pass source.key`);
  const wanted = source.columns ?? pgCols.map((c) => c.name).filter((n) => !keyNames.includes(n));
  const unknown = [...keyNames, ...wanted].filter((n) => !pgType.has(n));
  if (unknown.length > 0) throw permanentFailure(IngestErrorType.InvalidInput, `columns not in the Postgres table: ${unknown.join(', ')}`);
  const keyMissing = keyNames.filter((n) => !chType.has(n));
  if (keyMissing.length > 0) throw permanentFailure(IngestErrorType.InvalidInput, `key columns not in the ClickHouse table: ${keyMissing.join(', ')}`);
  for (const col of [target.versionColumn, target.deletedColumn]) {
    if (col !== undefined && !chType.has(col)) throw permanentFailure(IngestErrorType.InvalidInput, `column ${col} not in the ClickHouse table`);
  }
  const transforms = source.transforms ?? {};
  const chName = (n: string): string => target.columns?.[n] ?? n;
  const plan = (n: string): ColumnPlan => {
    const t = pgType.get(n) ?? 'text';
    const transform = transforms[n];
    const kind = transform ? 'text' : valueKindOf(t);
    return {
      name: n,
      ...(chName(n) !== n ? { chName: chName(n) } : {}),
      kind,
      ...(kind === 'array' ? { element: valueKindOf(t.slice(0, -2)) } : {}),
      chType: chType.get(chName(n)) ?? 'String',
      ...(transform ? { transform } : {}),
    };
  };
  const engine = chCols[0]?.engine ?? '';
  const tablePlan: TablePlan = {
    pgTable,
    chTable: `${chIdent(target.database)}.${chIdent(target.table)}`,
    key: keyNames.map(plan),
    columns: wanted.filter((n) => chType.has(chName(n))).map(plan),
    buckets: Math.max(1, Math.min(1 << 20, Math.floor(spec.buckets ?? 1024))),
    ...(target.versionColumn !== undefined ? { versionColumn: target.versionColumn } : {}),
    ...(target.deletedColumn !== undefined ? { deletedColumn: target.deletedColumn } : {}),
    final: /Replacing|Collapsing|Summing|Aggregating/.test(engine),
  };
  return { plan: tablePlan, missingColumns: wanted.filter((n) => !chType.has(chName(n))) };
}
