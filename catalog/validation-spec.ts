/** What validatePipeline compares for a captured table, derived from its declaration and the Postgres catalog. */
import type { Queryable } from './db.ts';
import type { ValidationSpec } from '../shared/validation.ts';
import { keyColumns } from './clickhouse-objects.ts';
import { checkColumnOptions, validationTransforms } from './column-options.ts';
import { mapColumn } from './column-types.ts';
import { groupOf, type TableDeclaration } from './declaration.ts';
import { introspectTable, type SourceTable } from './introspect.ts';
import { groupNames, tableNames, type TableNames } from '../shared/names.ts';
import { catalogEntries, isCaptured } from './store.ts';

export function validationSpec(decl: TableDeclaration, src: SourceTable, names: TableNames, opts: { slot?: string } = {}): ValidationSpec {
  const key = keyColumns(decl, src);
  checkColumnOptions(decl, src);
  const transforms = validationTransforms(decl, src);
  const queue = names.queue.slice(names.database.length + 1);
  // Where a column has two outputs (numeric(p,s): Decimal and exact text), the exact one is compared.
  const renamed = src.columns
    .filter((c) => !key.includes(c.name) && !decl.exclude.includes(c.name))
    .map((c) => [c.name, mapColumn(c, queue).compared] as const)
    .filter(([s, t]) => s !== t);
  return {
    // Left-out columns never reach ClickHouse: compare the rest; transformed ones as the connector sends them.
    source: {
      schema: names.schema,
      table: names.table,
      key,
      columns: src.columns.map((c) => c.name).filter((c) => !key.includes(c) && !decl.exclude.includes(c)),
      ...(Object.keys(transforms).length > 0 ? { transforms } : {}),
    },
    target: {
      database: names.database,
      table: names.current.slice(names.database.length + 1),
      versionColumn: 'version',
      deletedColumn: 'is_deleted',
      changesTable: names.changes.slice(names.database.length + 1),
      ...(renamed.length > 0 ? { columns: Object.fromEntries(renamed) } : {}),
    },
    // Each table is caught up at its own group's slot.
    catchUp: { mode: 'slot', slotName: opts.slot ?? groupNames(groupOf(decl)).slot, kafka: { topic: names.topic, groupId: names.group } },
    group: groupOf(decl),
  };
}

export class TableNotCaptured extends Error {
  override name = 'TableNotCaptured';
}

/** A blocked or dropped table: its changes do not reach ClickHouse, so a comparison could only wait and report lag. */
export class TableStopped extends Error {
  override name = 'TableStopped';
}

/** The spec of an active table of the live catalog, by `schema.table`. */
export async function validationSpecFor(db: Queryable, source: string, groupPrefix: string, sourceOf?: (group: string) => Queryable): Promise<ValidationSpec> {
  const found = (await catalogEntries(db)).find((e) => e.declaration.source === source);
  if (found && (found.state === 'blocked' || found.state === 'dropped')) {
    throw new TableStopped(`${source} is ${found.state} since ${found.updatedAt}, nothing compared: ${found.lastError ?? 'no reason recorded'}`);
  }
  const entry = found && isCaptured(found.state) ? found : undefined;
  if (!entry) throw new TableNotCaptured(`${source} is not an active table of the catalog (npm run catalog -- list)`);
  return validationSpec(entry.declaration, await introspectTable(sourceOf?.(groupOf(entry.declaration)) ?? db, source), tableNames(source, { groupPrefix }));
}
