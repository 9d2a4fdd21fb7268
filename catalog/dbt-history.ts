/**
 * One dbt model per captured table: its SCD2 history, a call of the macro
 * astros_scd2_history (dbt/macros/scd2_history.sql) with the table's
 * deduplicated change log, key and columns. Generated from the live catalog into
 * dbt/models/history/ by `npm run catalog -- dbt-models` (which `npm run dbt`
 * runs first) and by the addTable and removeTable workflows (activity
 * writeDbtModels, in the worker's checkout): a table added on a running stack,
 * by the command or from the Web UI, has its model at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { keyColumns } from './clickhouse-objects.ts';
import { mapColumn } from './column-types.ts';
import type { TableDeclaration } from './declaration.ts';
import type { SourceTable } from './introspect.ts';
import { tableNames } from '../shared/names.ts';
import { repoRoot } from '../config/paths.ts';

export const historyDir = path.join(repoRoot, 'dbt', 'models', 'history');

/** Tables whose history has a richer, hand-written model. */
export const ownHistoryModels: Record<string, string> = { 'public.astronauts': 'dim_astronauts_scd2' };

const HEADER = '-- Generated from the live catalog by `npm run catalog -- dbt-models` (run by `npm run dbt` and `astros tables add`): do not edit.';

export const historyModelName = (source: string): string => `scd2_${tableNames(source).base}`;

export function historyModelSql(decl: TableDeclaration, src: SourceTable): string {
  const key = keyColumns(decl, src);
  const columns = src.columns
    .filter((c) => !key.includes(c.name) && !decl.exclude.includes(c.name))
    .flatMap((c) => mapColumn({ ...c, keyPosition: null }, tableNames(decl.source).queue).outputs.map((o) => o.name));
  const list = (xs: string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;
  const orderBy = key.length === 1 ? `${key[0]}, valid_from_lsn` : `${key.join(', ')}, valid_from_lsn`;
  return [
    HEADER,
    `-- SCD2 history of ${decl.source}${decl.description ? `: ${decl.description}` : ''}`,
    `{{ config(order_by='(${orderBy})') }}`,
    '',
    `{{ astros_scd2_history(`,
    `    changes=env_var('ASTROS_SOURCE_DATABASE', 'astros') ~ '.${tableNames(decl.source).base}_changes',`,
    `    key=${list(key)},`,
    `    columns=${list(columns)}`,
    `) }}`,
    '',
  ].join('\n');
}

/** Write the models of these tables, delete generated models of tables no longer given; returns the files written. */
export function writeHistoryModels(tables: { declaration: TableDeclaration; source: SourceTable }[], dir = historyDir): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const want = new Map(
    tables.filter((t) => !(t.declaration.source in ownHistoryModels)).map((t) => [`${historyModelName(t.declaration.source)}.sql`, historyModelSql(t.declaration, t.source)]),
  );
  for (const f of fs.readdirSync(dir)) {
    if (/^scd2_.*\.sql$/.test(f) && !want.has(f) && fs.readFileSync(path.join(dir, f), 'utf8').startsWith(HEADER)) fs.rmSync(path.join(dir, f));
  }
  const written: string[] = [];
  for (const [f, text] of want) {
    const file = path.join(dir, f);
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) continue;
    fs.writeFileSync(file, text);
    written.push(file);
  }
  return written;
}
